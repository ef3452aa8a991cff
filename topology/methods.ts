/**
 * Methods that are idempotent by definition (RFC 9110 §9.2.2): a call with one of them may be
 * sent again (to another upstream or gateway) without changing the outcome.
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}
