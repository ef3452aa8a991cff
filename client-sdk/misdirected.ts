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

/** The alternates' hrefs, Link header first, in order. */
export function alternateHrefs(response: Pick<AxiosResponse, 'headers' | 'data'>): string[] {
  const out: string[] = [];
  const link = response.headers['link'];
  for (const value of Array.isArray(link) ? link : typeof link === 'string' ? [link] : []) {
    for (const m of String(value).matchAll(/<([^>]*)>((?:\s*;\s*[^,;]+)*)/g)) {
      if (/;\s*rel\s*=\s*"?(?:[^";]*\s)?alternate(?:\s[^";]*)?"?/i.test(m[2] ?? '')) out.push(m[1]!);
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
