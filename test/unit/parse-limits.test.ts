import { expect } from 'chai';
import fc from 'fast-check';
import { LineCounter, parseAllDocuments, stringify } from 'yaml';
import type { ErrorDetail } from '../../openapi/index.js';
import { loadManifests, ValidationError, type ManifestLimits, type ManifestSource } from '../../registry/index.js';
import { measureYaml } from '../../registry/manifest/yaml-shape.js';

function rejected(sources: ManifestSource[], limits: ManifestLimits = {}): ErrorDetail[] {
  try {
    loadManifests(sources, 'prod', limits);
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    return (err as ValidationError).details;
  }
  throw new Error('expected the manifests to be rejected');
}

const region = (name: string, extra = '') => `apiVersion: waymark/v1\nkind: Region\nmetadata: { name: ${name} }\nspec:\n  jurisdiction: EU\n${extra}`;

describe('parse limits', () => {
  describe('measureYaml (before parsing)', () => {
    it('counts the widest mapping of block YAML, per document, with the line and column of its first key', () => {
      const text = 'a: 1\nb: |\n  c: 1\n  d: 2\n  e: 3\nf: 1\n---\nx: 1\n# y: 2\nlist:\n  - p: 1\n    q: "r: s"\n  - p: 1\n    q: 2\nz: 3\nw: 4\n';
      // Document 1's top mapping: x, list, z, w (the commented key and the block scalar's lines are not keys).
      expect(measureYaml(text, 3, 1000)).to.deep.equal({ entries: 13, wide: { keys: 4, line: 8, column: 1, document: 1 } });
      expect(measureYaml(text, 4, 1000)).to.deep.equal({ entries: 13 });
    });

    it('counts flow mappings and JSON, ignoring commas and colons inside quoted strings', () => {
      expect(measureYaml('{"a": "x, y: z", "b": [1, 2, 3], "c": {"d": 1}}', 3, 1000)).to.deep.equal({ entries: 7 });
      expect(measureYaml('{"a": 1, "b": 2, "c": 3, "d": 4}', 3, 1000).wide).to.deep.include({ keys: 4, line: 1, column: 1 });
      expect(measureYaml("spec: { a: it's, b: 'x, y', c: 3 }\n", 3, 1000)).to.deep.equal({ entries: 4 });
      // A quote inside a plain scalar (even one continued on the next line) opens nothing.
      expect(measureYaml("{a\n 'x: 1, b: 2, c: 3, d: 4}\n", 3, 1000).wide).to.deep.include({ keys: 4, line: 1 });
      expect(measureYaml(`{u: http://a:1, k: it's, "j":"v", m: [1, 2]}`, 3, 1000).wide).to.deep.include({ keys: 4 });
      // Flow collections as block keys are keys too.
      expect(measureYaml('[a]: 1\n{b: "}"}: 2\n[c, d]: 3\n"e": [4]\n', 3, 1000).wide).to.deep.include({ keys: 4, line: 1 });
    });

    it('never counts fewer keys than the parser finds, on the example manifests and generated ones', () => {
      const texts = [
        region('eu-west', '  provider: cloud-a\n  location: "Dublin, IE"\n'),
        '- apiVersion: waymark/v1\n  kind: Service\n  metadata: {name: hr}\n  spec:\n    basePath: /hr\n    deployments:\n      - {region: eu-west, upstreams: ["http://a", "http://b"]}\n',
        JSON.stringify({ documents: [{ kind: 'Region', spec: { a: 1, b: [1, 2], c: { d: 'e,f' } } }] }, null, 2),
      ];
      for (const text of texts) {
        let widest = 0;
        for (const doc of parseAllDocuments(text)) {
          doc.toJS();
          const walk = (v: unknown): void => {
            if (Array.isArray(v)) v.forEach(walk);
            else if (v && typeof v === 'object') {
              widest = Math.max(widest, Object.keys(v).length);
              Object.values(v).forEach(walk);
            }
          };
          walk(doc.toJS());
        }
        expect(measureYaml(text, widest - 1, 1000).wide, text).to.not.equal(undefined);
      }
    });

    it('never counts fewer keys in the widest mapping than the parser finds (generated YAML, flow YAML and JSON)', () => {
      const widestOf = (v: unknown): number => {
        if (Array.isArray(v)) return Math.max(0, ...v.map(widestOf));
        if (v && typeof v === 'object') return Math.max(Object.keys(v).length, ...Object.values(v).map(widestOf));
        return 0;
      };
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom('block', 'flow', 'json', 'json-pretty'), (value, style) => {
          const text =
            style === 'json' ? JSON.stringify(value) : style === 'json-pretty' ? JSON.stringify(value, null, 2) : stringify(value, { collectionStyle: style === 'flow' ? 'flow' : 'block' });
          const parsed: unknown = parseAllDocuments(text)[0]?.toJS();
          const widest = widestOf(parsed);
          if (widest === 0) return;
          expect(measureYaml(text, widest - 1, Number.MAX_SAFE_INTEGER).wide, `${style}:\n${text}`).to.not.equal(undefined);
        }),
        { numRuns: 400 },
      );
    });

    it('stops as soon as a bound is passed: 200 000 keys in a few milliseconds', () => {
      const text = region('wide', Array.from({ length: 200_000 }, (_, i) => `  k${i}: v\n`).join(''));
      const started = performance.now();
      const shape = measureYaml(text, 10_000, 500_000);
      expect(performance.now() - started).to.be.below(200);
      expect(shape.wide).to.deep.include({ keys: 10_001, line: 5 });
    });
  });

  describe('loadManifests (the registry and any caller reading files)', () => {
    it('refuses a mapping wider than maxMappingKeys before parsing, naming file, document and line', () => {
      const text = `${region('eu-west')}---\n${region('wide', '  a: 1\n  b: 2\n  c: 3\n  d: 4\n')}`;
      const [d, ...more] = rejected([{ file: 'regions.yaml', text }], { maxMappingKeys: 4 });
      expect(more).to.deep.equal([]);
      expect(d).to.include({ file: 'regions.yaml', document: 1, line: 11, column: 3 });
      expect(d.message).to.match(/more than 4 keys, the limit \(counted before parsing\)/);
    });

    it('refuses more than maxEntries in one apply, over all its files', () => {
      const [d] = rejected(
        [
          { file: 'a.yaml', text: region('eu-west') },
          { file: 'b.yaml', text: region('us-east') },
        ],
        { maxEntries: 10 },
      );
      expect(d).to.include({ file: 'b.yaml' });
      expect(d.message).to.match(/more than 10 entries/);
    });

    it('refuses 60 000 keys with the default limits in well under a second (was 37 s of parsing)', () => {
      const text = region('wide', Array.from({ length: 60_000 }, (_, i) => `  k${i}: v\n`).join(''));
      const started = performance.now();
      const [d] = rejected([{ file: 'wide.yaml', text }]);
      expect(performance.now() - started).to.be.below(500);
      expect(d.message).to.match(/more than 10000 keys/);
    });

    it('still reports duplicate keys with the parser\'s message, line and column, each of them', () => {
      const text = 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: a, name: b }\nspec:\n  jurisdiction: EU\n  jurisdiction: US\n';
      expect(rejected([{ file: 'dup.yaml', text }]).map((d) => [d.line, d.column, d.message])).to.deep.equal([
        [3, 22, 'YAML syntax error: Map keys must be unique'],
        [6, 3, 'YAML syntax error: Map keys must be unique'],
      ]);
      // The same positions as the parser's own (quadratic) check, on keys of every style.
      const odd = 'a: 1\n"a": 2\n? a\n: 3\n[x]: 1\n[x]: 2\n1: a\n"1": b\nn: { m: 1, m: 2, "m": 3 }\n';
      const lines = new LineCounter();
      const expected = parseAllDocuments(odd, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
        .flatMap((doc) => doc.errors)
        .map((e) => [lines.linePos(e.pos[0]).line, lines.linePos(e.pos[0]).col, `YAML syntax error: ${e.message}`]);
      expect(expected).to.have.length(4);
      expect(rejected([{ file: 'odd.yaml', text: odd }]).map((d) => [d.line, d.column, d.message])).to.deep.equal(expected);
      // In a wide mapping too (found with one hash set, where the parser compared every pair).
      const wide = region('wide', Array.from({ length: 9_000 }, (_, i) => `  k${i}: v\n`).join('') + '  k0: again\n');
      const details = rejected([{ file: 'wide.yaml', text: wide }]);
      expect(details).to.have.length(1);
      expect(details[0]).to.include({ line: 9006, column: 3, message: 'YAML syntax error: Map keys must be unique' });
    });
  });
});
