import type { SigningKeys } from '../../openapi/index.js';

/** The public keys stored at `<env>/keys`; undefined when the value is absent or not such a record. */
export function parseSigningKeys(text: string, env: string): SigningKeys | undefined {
  try {
    const v = JSON.parse(text) as SigningKeys;
    if (v.environment === env && Array.isArray(v.keys)) return v;
  } catch {
    // An unreadable value counts as none: the next `keys rotate` writes it again.
  }
  return undefined;
}
