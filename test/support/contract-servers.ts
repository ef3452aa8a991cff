import type { ServerRole } from './contract.js';

/**
 * The loopback ports our own servers (gateways, registries) listen on in this test process, so
 * the contract checks their answers and nobody else's: backends, etcd and the fault proxy are
 * never registered. A server unregisters when it closes, since its port may go to a backend next.
 */
const roles = new Map<string, ServerRole>();
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Registers the server at `url`; call the returned function when it has closed. */
export function registerServer(url: string, role: ServerRole): () => void {
  const key = keyOf(url);
  if (key === undefined) return () => undefined;
  roles.set(key, role);
  return () => {
    if (roles.get(key) === role) roles.delete(key);
  };
}

/** The role of the server a request to `host`:`port` reaches, if it is one of ours. */
export function serverRole(host: string | undefined, port: number | string | undefined): ServerRole | undefined {
  if (host === undefined || port === undefined || !LOOPBACK.has(host)) return undefined;
  return roles.get(String(port));
}

function keyOf(url: string): string | undefined {
  const u = new URL(url);
  if (!LOOPBACK.has(u.hostname)) return undefined;
  return u.port || (u.protocol === 'https:' ? '443' : '80');
}
