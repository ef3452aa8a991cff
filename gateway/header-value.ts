import { WaymarkError } from '../topology/index.js';

/**
 * Header values built from parts Waymark does not control (request targets, records from etcd).
 * Every part goes through here: percent-encoded when it is a URI reference, quoted when it is a
 * parameter, and the whole value checked, so no input can add a header, a link or a parameter.
 */

/** A header value could not be built safely from its parts. */
export class HeaderValueError extends WaymarkError {
  constructor(what: string) {
    super('INVALID_HEADER_VALUE', `${what} cannot be put in a header safely`);
  }
}

/** Visible ASCII, spaces and tabs: what every HTTP implementation reads the same way. */
export function isHeaderSafe(value: string): boolean {
  return /^[\t\x20-\x7e]*$/.test(value);
}

/**
 * Percent-encodes every character that may not appear in a URI reference (RFC 3986): whatever a
 * request target holds, it cannot end the `<…>` of a Link (`>`), start another (`<`), or break a
 * parameter (`"`). Valid escapes are kept; a lone `%` becomes `%25`.
 */
export function uriReference(text: string): string {
  return text.replace(/%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~:/?@!$&'()*+,;=%]/gu, (c) =>
    Array.from(Buffer.from(c, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

/** A quoted-string (RFC 9110 §5.6.4). */
export function quotedString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/** One link of a Link header (RFC 8288): `<target>; name="value"…`. Throws HeaderValueError when unsafe. */
export function linkValue(target: string, params: Readonly<Record<string, string>>): string {
  const parts = [`<${target}>`, ...Object.entries(params).map(([k, v]) => `${k}=${quotedString(v)}`)];
  const value = parts.join('; ');
  if (/[<>]/.test(target) || !isHeaderSafe(value)) throw new HeaderValueError(`the link to ${JSON.stringify(target.slice(0, 100))}`);
  return value;
}
