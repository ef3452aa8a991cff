import { WaymarkError } from '../topology/index.js';
import type { WaymarkClient, WaymarkClientOptions } from '../client-sdk/index.js';

/** Options of a Waymark agent. Every default is in AGENT_DEFAULTS below. */
export interface AgentOptions {
  /**
   * The SDK client the agent routes with: its options (the agent creates and closes the client),
   * or a client of the caller's (left open by close()). Required.
   */
  client: WaymarkClientOptions | { readonly instance: WaymarkClient };
  /** Address to listen on. Default 127.0.0.1: the agent is for the apps of this host, never an open proxy. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 15001. */
  port?: number;
  /** Largest request body accepted, bytes; a larger one gets 413. Bodies are buffered so a failed call can be retried elsewhere. Default 8 MiB. */
  maxRequestBytes?: number;
  /** Largest response body relayed, bytes; a larger one gets 502. Default 64 MiB. */
  maxResponseBytes?: number;
  /** Time to read a request's headers and body from the app, ms; then 408. Default 30 000. */
  requestReadTimeoutMs?: number;
  /** Idle keep-alive connections from apps are closed after this, ms. Default 5000. */
  keepAliveTimeoutMs?: number;
}

export const AGENT_DEFAULTS = {
  host: '127.0.0.1',
  port: 15001,
  maxRequestBytes: 8 * 1024 * 1024,
  maxResponseBytes: 64 * 1024 * 1024,
  requestReadTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5000,
} as const;

export type ResolvedAgentOptions = { -readonly [K in keyof typeof AGENT_DEFAULTS]: (typeof AGENT_DEFAULTS)[K] extends string ? string : number } & {
  client: AgentOptions['client'];
};

/** The agent was given options it cannot work with. */
export class AgentOptionsError extends WaymarkError {
  constructor(message: string) {
    super('INVALID_OPTIONS', `Invalid agent options: ${message}`);
  }
}

/** Applies the defaults and rejects values the agent cannot work with, naming the option. */
export function resolveAgentOptions(options: AgentOptions): ResolvedAgentOptions {
  if (!options || typeof options.client !== 'object' || options.client === null) {
    throw new AgentOptionsError('client must be WaymarkClient options ({ bootstrap: [...] }) or { instance: client }');
  }
  const out: ResolvedAgentOptions = { ...AGENT_DEFAULTS, client: options.client };
  if (options.host !== undefined) {
    if (typeof options.host !== 'string' || options.host === '') throw new AgentOptionsError('host must be a non-empty host name or address');
    out.host = options.host;
  }
  if (options.port !== undefined) {
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new AgentOptionsError(`port must be a whole number 0–65535, got ${String(options.port)}`);
    out.port = options.port;
  }
  for (const key of ['maxRequestBytes', 'maxResponseBytes', 'requestReadTimeoutMs', 'keepAliveTimeoutMs'] as const) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new AgentOptionsError(`${key} must be a positive whole number, got ${String(value)}`);
    out[key] = value;
  }
  return out;
}
