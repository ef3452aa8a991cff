import type { ApiError, ApplyResult } from '../../openapi/index.js';

/** One answer of the registry's admin API, with how long it took. */
export interface AdminAnswer<T> {
  status: number;
  body: T;
  headers: Headers;
  ms: number;
}

export interface AdminCallOptions {
  token?: string;
  body?: string;
  /** Default application/yaml when there is a body. */
  type?: string;
  /** Default 20 000. */
  timeoutMs?: number;
}

/** Calls the admin API at `url`; the body is parsed as JSON when there is one. */
export async function adminCall<T = unknown>(url: string, method: string, path: string, options: AdminCallOptions = {}): Promise<AdminAnswer<T>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = options.type ?? 'application/yaml';
  const started = Date.now();
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    signal: AbortSignal.timeout(options.timeoutMs ?? 20_000),
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers, ms: Date.now() - started };
}

/** POST /v1/environments/{env}/apply with a YAML body. */
export function applyYaml(url: string, token: string, env: string, yaml: string, query = ''): Promise<AdminAnswer<ApplyResult & ApiError>> {
  return adminCall<ApplyResult & ApiError>(url, 'POST', `/v1/environments/${env}/apply${query}`, { token, body: yaml });
}

/** An environment's event stream held open (GET /v1/environments/{env}/events); `close()` leaves it. */
export interface HeldEvents {
  status: number;
  body: string;
  close(): void;
}

/** Opens the event stream of `env`: resolves with the status once the headers arrived (the body of a refusal read). */
export async function openEvents(url: string, token: string, env: string): Promise<HeldEvents> {
  const left = new AbortController();
  const res = await fetch(`${url}/v1/environments/${env}/events`, { headers: { authorization: `Bearer ${token}` }, signal: left.signal });
  const body = res.status === 200 ? '' : await res.text();
  return { status: res.status, body, close: () => left.abort() };
}
