import { expect } from 'chai';
import type { ApplyResult } from '../../openapi/index.js';
import { AdminApiError } from '../../cli/admin-client.js';
import { escapeControls } from '../../cli/escape.js';
import { formatApplyResult, formatTable, palette, reportError } from '../../cli/output.js';
import { formatChange } from '../../cli/commands/watch.js';

/** A stream that collects what is written, as a terminal (colours on) or not. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write(chunk: string) {
    s.text += chunk;
    return true;
  } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

/** Every character a terminal would act on, other than the newlines between lines and our colours. */
const UNSAFE = /[\u0000-\u0009\u000b-\u001a\u001c-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\u001b(?!\[\d+m)/;

// A location that clears the line, returns the cursor and draws a row of its own; then bidi and C1.
const HOSTILE = 'Dublin\u001b[2K\r\nus-east   US   cloud-a   fake-row\u202eevil\u009b31m\u007f';

describe('CLI output escapes control characters from records', () => {
  it('escapes C0, C1, DEL and bidi overrides visibly', () => {
    expect(escapeControls('a\u001b[31mb\rc\nd\u0000e\u007ff\u0085g\u202eh\u2066i')).to.equal(
      'a\\x1b[31mb\\x0dc\\x0ad\\x00e\\x7ff\\x85g\\u202eh\\u2066i',
    );
    expect(escapeControls('Zürich 東京 ok')).to.equal('Zürich 東京 ok');
  });

  for (const tty of [false, true]) {
    it(`keeps a table to one row per record, aligned (${tty ? 'terminal, with colours' : 'no terminal'})`, () => {
      const out = stream(tty);
      const c = palette(out);
      const text = formatTable(
        ['REGION', 'LOCATION', 'HEALTH'],
        [
          // Plain cells, and (on a terminal) cells painted once aligned.
          ['eu-west', HOSTILE, tty ? { text: 'healthy', paint: c.green } : 'healthy'],
          ['us-east', 'Virginia', tty ? { text: `stale${HOSTILE}`, paint: c.yellow } : `stale${HOSTILE}`],
        ],
        out,
      );
      const lines = text.trimEnd().split('\n');
      expect(lines).to.have.length(3);
      for (const line of lines) expect(line).not.to.match(UNSAFE);
      expect(lines[1]).to.include('Dublin\\x1b[2K\\x0d\\x0aus-east');
      // Columns stay aligned on the escaped text.
      const plain = lines.map((l) => l.replace(/\u001b\[\d+m/g, ''));
      expect(plain[2]!.indexOf('Virginia')).to.equal(plain[1]!.indexOf('Dublin'));
    });
  }

  it('escapes plain lines: apply diffs, watch changes and errors', () => {
    const result: ApplyResult = {
      environment: 'prod',
      dryRun: true,
      changed: true,
      revision: 3,
      created: [{ kind: 'Region', name: `x${HOSTILE}` }],
      updated: [{ kind: 'Region', name: 'eu-west', changes: [{ field: `spec.location${HOSTILE}`, from: 'a', to: HOSTILE }] }],
      deleted: [],
      unchanged: [],
      summary: { created: 1, updated: 1, deleted: 0, unchanged: 0 },
    };
    for (const tty of [false, true]) {
      const text = formatApplyResult(result, stream(tty));
      expect(text.trimEnd().split('\n')).to.have.length(4);
      expect(text).not.to.match(UNSAFE);
    }
    const change = formatChange(
      { revision: 4, at: '2026-12-04T12:00:00.000Z', kind: 'region', name: 'eu-west', action: 'updated', detail: HOSTILE },
      palette(stream(true)),
    );
    expect(change).not.to.match(UNSAFE);
    expect(change).not.to.include('\n');

    const err = stream(true);
    reportError(
      new AdminApiError(422, { code: 'VALIDATION_FAILED', message: `rejected ${HOSTILE}`, details: [{ file: `f${HOSTILE}.yaml`, message: HOSTILE }] }),
      err,
    );
    expect(err.text.trimEnd().split('\n')).to.have.length(2);
    expect(err.text).not.to.match(UNSAFE);
  });
});
