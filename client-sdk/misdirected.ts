import type { AxiosResponse } from 'axios';
import type { Candidate } from './resolver.js';

/** Where a 421 (Misdirected Request) answer says to go instead: a candidate and the URL part after its base. */
export interface Alternate {
  candidate: Candidate;
  /** The path (and query, if the alternate gave one) to request under `candidate.baseUrl`. */
  path: string;
  /** True when `path` carries its own query, so the request's params must not be added again. */
  hasQuery: boolean;
}

/**
 * The first alternate of a 421 answer that is one of the service's own candidates. Alternates
 * come from `Link: <url>; rel="alternate"` and from the body's `_links.alternate` / `alternate-N`. Anything else
 * is ignored: a gateway must not be able to send a call outside the topology (or outside a
 * pinned service's jurisdictions) by naming an arbitrary URL.
 */
export function findAlternate(response: AxiosResponse, requestUrl: string, candidates: readonly Candidate[], path: string): Alternate | undefined {
  for (const href of alternateHrefs(response)) {
    let url: string;
    try {
      url = new URL(href, requestUrl).href;
    } catch {
      continue;
    }
    for (const candidate of candidates) {
      if (url === candidate.baseUrl || url.startsWith(`${candidate.baseUrl}/`) || url.startsWith(`${candidate.baseUrl}?`)) {
        const rest = url.slice(candidate.baseUrl.length);
        return { candidate, path: rest, hasQuery: rest.includes('?') };
      }
      const gatewayBase = candidate.gateway.url.replace(/\/+$/, '');
      if (url === gatewayBase || url === `${gatewayBase}/`) return { candidate, path, hasQuery: false };
    }
  }
  return undefined;
}

/** Link header text longer than this (all values together) is ignored: a gateway's 421 names a few alternates. */
export const MAX_LINK_HEADER_LENGTH = 32 * 1024;
/** Link-values read from the header at most; later ones are ignored. */
export const MAX_LINK_VALUES = 32;

/** The alternates' hrefs, Link header first, in order. */
export function alternateHrefs(response: Pick<AxiosResponse, 'headers' | 'data'>): string[] {
  const out: string[] = [];
  const link = response.headers['link'];
  const values = Array.isArray(link) ? link.map(String) : typeof link === 'string' ? [link] : [];
  if (values.reduce((n, v) => n + v.length, 0) <= MAX_LINK_HEADER_LENGTH) {
    let count = 0;
    for (const value of values) {
      for (const { href, params } of linkValues(value)) {
        if (++count > MAX_LINK_VALUES) break;
        if (hasAlternateRel(params)) out.push(href);
      }
    }
  }
  let body: unknown = response.data;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      body = undefined;
    }
  }
  const links = (body as { _links?: Record<string, unknown> } | undefined)?._links;
  for (const [rel, value] of Object.entries(links ?? {})) {
    if (!/^alternate(-\d+)?$/.test(rel)) continue;
    for (const entry of Array.isArray(value) ? value : [value]) {
      const href = (entry as { href?: unknown } | undefined)?.href;
      if (typeof href === 'string' && !out.includes(href)) out.push(href);
    }
  }
  return out;
}

/**
 * The `<href>; params` link-values of one Link header (RFC 8288), in one pass: each character is
 * looked at a bounded number of times, whatever the input (the regex this replaces was quadratic
 * on unclosed '<'). Quoted parameter values may hold ',' and ';'.
 */
function* linkValues(header: string): Generator<{ href: string; params: string[] }> {
  let pos = 0;
  while (pos < header.length) {
    const open = header.indexOf('<', pos);
    if (open < 0) return;
    const close = header.indexOf('>', open + 1);
    if (close < 0) return;
    const params: string[] = [];
    let start = close + 1;
    let quoted = false;
    let i = start;
    for (; i < header.length; i++) {
      const c = header[i];
      if (quoted) {
        if (c === '\\') i++;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === ';' || c === ',') {
        params.push(header.slice(start, i));
        start = i + 1;
        if (c === ',') break;
      }
    }
    if (i >= header.length) params.push(header.slice(start));
    yield { href: header.slice(open + 1, close), params };
    pos = i + 1;
  }
}

/** True when one of the parameters is `rel` naming `alternate` (rel may list several types). */
function hasAlternateRel(params: readonly string[]): boolean {
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'rel') continue;
    const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/s, '$1');
    if (value.toLowerCase().split(/\s+/).includes('alternate')) return true;
  }
  return false;
}
