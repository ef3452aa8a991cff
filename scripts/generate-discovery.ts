/**
 * Writes the discovery description the gateways serve (openapi/generated/discovery.json and
 * .yaml) from openapi/waymark.yaml. Part of `npm run generate`; the outputs are committed, and a
 * unit test fails when they are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { discoveryDescription } from '../openapi/discovery-description.js';

const contract = readFileSync(new URL('../openapi/waymark.yaml', import.meta.url), 'utf8');
const { json, yaml } = discoveryDescription(contract);
writeFileSync(new URL('../openapi/generated/discovery.json', import.meta.url), json);
writeFileSync(new URL('../openapi/generated/discovery.yaml', import.meta.url), yaml);
