/**
 * The base path rule: where a service lives on every gateway. One rule for the registry (before
 * writing), the gateway (on every record it reads) and the SDK (on every document it receives).
 */

/** Absolute, segments of URL path characters, no empty segment (an optional trailing `/` aside). */
const SHAPE = /^\/([A-Za-z0-9._~!$&'()*+,;=:@%-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*)?\/?$/;

/** Base paths reach every document and route table: anything longer is a mistake or an attack. */
export const MAX_BASE_PATH_LENGTH = 1024;

/** Paths the gateway answers itself: a service there could never be reached. */
export const RESERVED_PATHS: readonly string[] = ['/.well-known', '/healthz', '/readyz', '/metrics'];

/** Why `value` is not a base path, or undefined when it is one. */
export function basePathProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length > MAX_BASE_PATH_LENGTH) return `must be at most ${MAX_BASE_PATH_LENGTH} characters`;
  if (!SHAPE.test(value)) {
    return `${JSON.stringify(value)} is not a base path: use an absolute path such as /hr/v1, without query, fragment, '//' or spaces`;
  }
  const segments = value.split('/');
  if (segments.some((seg) => seg === '.' || seg === '..')) return `${JSON.stringify(value)} must not contain '.' or '..' segments`;
  for (const seg of segments) {
    if (!seg.includes('%')) continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      return `${JSON.stringify(value)} has a malformed percent-encoding`;
    }
    // Encoded separators, dots and control characters would match differently after decoding.
    if (/[/\\\x00-\x1f\x7f]/.test(decoded) || decoded === '.' || decoded === '..' || decoded.includes(';')) {
      return `${JSON.stringify(value)} must not encode '/', '\\', ';', dot segments or control characters`;
    }
  }
  if (segments.some((seg) => seg.includes(';'))) return `${JSON.stringify(value)} must not contain ';' path parameters`;
  const lower = value.toLowerCase().replace(/\/$/, '');
  for (const reserved of RESERVED_PATHS) {
    if (lower === reserved || lower.startsWith(`${reserved}/`)) {
      return `${JSON.stringify(value)} is reserved: the gateway answers ${reserved} itself (reserved: ${RESERVED_PATHS.join(', ')})`;
    }
  }
  return undefined;
}

export function isValidBasePath(value: unknown): value is string {
  return basePathProblem(value) === undefined;
}
