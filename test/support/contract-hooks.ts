import type { RootHookObject } from 'mocha';
import { Contract, type ObservedResponse } from './contract.js';
import { observeResponses, settled } from './contract-observer.js';

/**
 * Mocha root hooks (.mocharc.json `require`): every response a test receives from one of our
 * servers is checked against openapi/waymark.yaml. Violations are collected with the test that
 * was running; the root `after` hook fails the run listing each, and prints how many responses
 * were validated. Failing once at the end (not in `afterEach`) keeps a violation from skipping
 * the rest of a suite.
 */

export interface Violation {
  test: string;
  method: string;
  template: string;
  path: string;
  status: number;
  problems: string[];
}

const contract = Contract.load();
const violations: Violation[] = [];
const counts = { validated: 0, proxied: 0 };
let current = '(outside any test)';

observeResponses((r: ObservedResponse) => {
  const verdict = contract.check(r);
  counts.validated++;
  if (verdict.proxied) counts.proxied++;
  if (verdict.problems.length > 0) {
    violations.push({ test: current, method: r.method, template: verdict.template, path: r.path, status: r.status, problems: verdict.problems });
  }
});

/** Removes and returns the violations seen on `path` (for the test that checks the validator itself). */
export async function takeViolations(path: string): Promise<Violation[]> {
  await settled();
  const taken = violations.filter((v) => v.path === path);
  for (const v of taken) violations.splice(violations.indexOf(v), 1);
  return taken;
}

/** How many responses were validated so far. */
export function validatedCount(): number {
  return counts.validated;
}

export const mochaHooks: RootHookObject = {
  beforeEach(this: Mocha.Context) {
    current = this.currentTest?.fullTitle() ?? '(a hook)';
  },
  async afterAll(this: Mocha.Context) {
    const unread = await settled();
    if (counts.validated > 0 || unread > 0) {
      const late = unread > 0 ? `; ${unread} bodies never finished, not checked` : '';
      console.log(`\n  contract: ${counts.validated} responses validated against openapi/waymark.yaml (${counts.proxied} relayed by a gateway), ${violations.length} violations${late}`);
    }
    if (violations.length === 0) return;
    const lines = violations.map((v) => `  ${v.method} ${v.template} (${v.path}) → ${v.status}: ${v.problems.join('; ')}\n    in: ${v.test}`);
    throw new Error(`responses break the contract (openapi/waymark.yaml):\n${lines.join('\n')}`);
  },
};
