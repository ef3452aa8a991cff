/**
 * The gateway URL allow-list of a region (`gatewayUrls` of a Region manifest, signed with the
 * topology): which URLs a gateway of that region may register with. A pattern is an origin whose
 * host may start with one `*.` wildcard standing for exactly one DNS label, so
 * `https://*.eu.api.example.com` admits `https://gw1.eu.api.example.com` but neither
 * `https://eu.api.example.com` nor `https://a.b.eu.api.example.com`. Scheme and port must match.
 */
import { gatewayUrlProblem } from './url.js';

export const MAX_GATEWAY_URL_PATTERNS = 64;

/** Why `value` is not a gateway URL pattern, or undefined. */
export function gatewayUrlPatternProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  const m = /^(https?:\/\/)\*\.(.*)$/.exec(value);
  if (!m) return gatewayUrlProblem(value);
  const rest = m[2]!;
  if (rest.startsWith('[') || /^[\d.]+(:\d+)?\/?$/.test(rest)) return 'a wildcard only stands before a host name';
  if (!rest.includes('.')) return 'a wildcard must be followed by at least two labels (*.example.com)';
  // The same rules as a URL once the wildcard is a label.
  return gatewayUrlProblem(`${m[1]}x.${rest}`);
}

/** True when `url` (a gateway URL) matches one of the patterns. */
export function gatewayUrlAllowed(patterns: readonly string[], url: string): boolean {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  if (target.pathname !== '/' || target.search || target.hash || target.username || target.password) return false;
  for (const pattern of patterns) if (matches(pattern, target)) return true;
  return false;
}

function matches(pattern: string, target: URL): boolean {
  const wildcard = /^(https?:\/\/)\*\.(.*)$/.exec(pattern);
  let p: URL;
  try {
    p = new URL(wildcard ? `${wildcard[1]}wildcard.${wildcard[2]}` : pattern);
  } catch {
    return false;
  }
  if (p.protocol !== target.protocol || p.port !== target.port) return false;
  if (!wildcard) return p.hostname === target.hostname;
  const suffix = p.hostname.slice('wildcard'.length);
  const host = target.hostname;
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, host.length - suffix.length);
  return /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label);
}
