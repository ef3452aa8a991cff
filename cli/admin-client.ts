import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type { Readable } from 'node:stream';
import axios, { type AxiosInstance, isAxiosError } from 'axios';
import { WaymarkError } from '../topology/index.js';
import type {
  ApiError,
  ApplyResult,
  AuditEntry,
  AuditList,
  EnvironmentStatus,
  EnvironmentSummary,
  ErrorDetail,
  InternalTopology,
  PromotionRequest,
  Bundle, SigningKeys, UpstreamPolicy,
} from '../openapi/index.js';

/** How the CLI reaches the registry's admin API. Every default is here. */
export interface AdminClientOptions {
  /** Base URL of the registry, such as `http://127.0.0.1:8080`. */
  url: string;
  /** Bearer token (WAYMARK_TOKEN). */
  token?: string;
  /** Per-request timeout in ms. Default 300 000: a first apply of 10 000 services takes seconds. */
  timeoutMs?: number;
  /** PEM file of a CA to trust for an https registry with a private certificate. */
  caFile?: string;
}

export const ADMIN_CLIENT_DEFAULTS = { timeoutMs: 300_000 } as const;

/** The registry answered with an Error object (validation, conflict, auth, …). */
export class AdminApiError extends WaymarkError {
  constructor(
    readonly status: number,
    readonly body: ApiError,
  ) {
    super(body.code, body.message);
  }

  get details(): ErrorDetail[] {
    return this.body.details ?? [];
  }
}

/** The registry did not answer (refused, timed out, no route, TLS failure). */
export class RegistryUnreachableError extends WaymarkError {
  constructor(url: string, reason: string, cause?: unknown) {
    super('REGISTRY_UNREACHABLE', `the registry at ${url} did not answer (${reason}): check --registry / WAYMARK_REGISTRY and that the registry runs`, { cause });
  }
}

/** One manifest file as the CLI read it. */
export interface SourceFile {
  file: string;
  content: string;
}

/** A typed client of the admin API (see openapi/waymark.yaml, tag `admin`). */
export class AdminClient {
  private readonly http: AxiosInstance;

  constructor(private readonly options: AdminClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new WaymarkError('USAGE', `--registry ${JSON.stringify(options.url)} is not a URL: use http://host:port`);
    }
    this.http = axios.create({
      baseURL: base.toString().replace(/\/+$/, ''),
      timeout: options.timeoutMs ?? ADMIN_CLIENT_DEFAULTS.timeoutMs,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      validateStatus: () => true,
      headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
      ...(options.caFile ? { httpsAgent: new Agent({ ca: readFileSync(options.caFile) }) } : {}),
    });
  }

  /** Applies (or with dryRun, diffs) the files to an environment in one atomic apply. */
  apply(environment: string, files: readonly SourceFile[], options: { dryRun?: boolean; prune?: boolean } = {}): Promise<ApplyResult> {
    return this.request<ApplyResult>('POST', `/v1/environments/${encodeURIComponent(environment)}/apply`, {
      params: { ...(options.dryRun ? { dryRun: true } : {}), ...(options.prune ? { prune: true } : {}) },
      data: { sources: files },
    });
  }

  promote(request: PromotionRequest): Promise<ApplyResult> {
    return this.request<ApplyResult>('POST', '/v1/promotions', { data: request });
  }

  history(environment: string): Promise<AuditList> {
    return this.request<AuditList>('GET', `/v1/environments/${encodeURIComponent(environment)}/history`);
  }

  historyEntry(environment: string, id: number): Promise<AuditEntry> {
    return this.request<AuditEntry>('GET', `/v1/environments/${encodeURIComponent(environment)}/history/${id}`);
  }

  rollback(environment: string, to: number, options: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    return this.request<ApplyResult>('POST', `/v1/environments/${encodeURIComponent(environment)}/rollback`, {
      data: { to, ...(options.dryRun ? { dryRun: true } : {}) },
    });
  }

  async environments(): Promise<EnvironmentSummary[]> {
    return (await this.request<{ environments: EnvironmentSummary[] }>('GET', '/v1/environments')).environments;
  }

  topology(environment: string): Promise<InternalTopology> {
    return this.request<InternalTopology>('GET', `/v1/environments/${encodeURIComponent(environment)}/topology`);
  }

  status(environment: string): Promise<EnvironmentStatus> {
    return this.request<EnvironmentStatus>('GET', `/v1/environments/${encodeURIComponent(environment)}/status`);
  }

  upstreamPolicy(environment: string): Promise<UpstreamPolicy> {
    return this.request<UpstreamPolicy>('GET', `/v1/environments/${encodeURIComponent(environment)}/upstream-policy`);
  }

  /** Admin tokens only. */
  setUpstreamPolicy(environment: string, allow: string[]): Promise<UpstreamPolicy> {
    return this.request<UpstreamPolicy>('PUT', `/v1/environments/${encodeURIComponent(environment)}/upstream-policy`, { data: { allow } });
  }

  /** Admin tokens only: back to the default policy. */
  deleteUpstreamPolicy(environment: string): Promise<UpstreamPolicy> {
    return this.request<UpstreamPolicy>('DELETE', `/v1/environments/${encodeURIComponent(environment)}/upstream-policy`);
  }

  signingKeys(environment: string): Promise<SigningKeys> {
    return this.request<SigningKeys>('GET', `/v1/environments/${encodeURIComponent(environment)}/keys`);
  }

  /** Admin tokens only: `create` the first key, `rotate` (publish a next key), `activate` (sign with it). */
  changeSigningKey(environment: string, operation: 'create' | 'rotate' | 'activate'): Promise<SigningKeys> {
    const path = `/v1/environments/${encodeURIComponent(environment)}/keys`;
    return this.request<SigningKeys>('POST', operation === 'create' ? path : `${path}/${operation}`);
  }

  /** Admin tokens only: the signed bundle of an environment (upstreams of `region` only, if given). */
  exportBundle(environment: string, region?: string): Promise<Bundle> {
    return this.request<Bundle>('GET', `/v1/environments/${encodeURIComponent(environment)}/bundle`, region === undefined ? {} : { params: { region } });
  }

  /**
   * Opens the environment's event stream (Server-Sent Events; see `waymark watch`): resolves with
   * the body once the registry accepted the request. `since` replays remembered later changes.
   */
  async events(environment: string, options: { since?: number; signal?: AbortSignal } = {}): Promise<Readable> {
    let res;
    try {
      res = await this.http.request<Readable>({
        method: 'GET',
        url: `/v1/environments/${encodeURIComponent(environment)}/events`,
        params: options.since !== undefined ? { since: options.since } : {},
        headers: { Accept: 'text/event-stream' },
        responseType: 'stream',
        timeout: 0,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      const reason = isAxiosError(err) ? (err.code ?? err.message) : String(err);
      throw new RegistryUnreachableError(this.options.url, reason, err);
    }
    if (res.status === 200) return res.data;
    const text = await readAll(res.data);
    let body: Partial<ApiError> | undefined;
    try {
      body = JSON.parse(text) as Partial<ApiError>;
    } catch {
      body = undefined;
    }
    if (body && typeof body.code === 'string' && typeof body.message === 'string') throw new AdminApiError(res.status, body as ApiError);
    throw new AdminApiError(res.status, { code: `HTTP_${res.status}`, message: `the registry answered ${res.status} without an error body` });
  }

  private async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, config: { params?: Record<string, unknown>; data?: unknown } = {}): Promise<T> {
    let res;
    try {
      res = await this.http.request({ method, url: path, ...config });
    } catch (err) {
      const reason = isAxiosError(err) ? (err.code ?? err.message) : String(err);
      throw new RegistryUnreachableError(this.options.url, reason, err);
    }
    if (res.status >= 200 && res.status < 300) return res.data as T;
    const body = res.data as Partial<ApiError> | undefined;
    if (body && typeof body === 'object' && typeof body.code === 'string' && typeof body.message === 'string') {
      throw new AdminApiError(res.status, body as ApiError);
    }
    throw new AdminApiError(res.status, { code: `HTTP_${res.status}`, message: `the registry answered ${res.status} without an error body` });
  }
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString();
}
