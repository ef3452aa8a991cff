/**
 * Characters a terminal acts on instead of printing: C0 controls (newline and ESC included: a
 * record's text must not start a line or an escape sequence of its own), DEL, C1 controls (8-bit
 * CSI among them), and the bidirectional formatting characters that reorder what is shown
 * (U+202E RIGHT-TO-LEFT OVERRIDE and its kin, as in "Trojan Source").
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from records and answers, made safe to print: each unsafe character becomes a visible
 * escape (`\x1b`, `\u202e`), so a region location with escape sequences cannot draw a fake row.
 */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
