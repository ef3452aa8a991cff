import { interfaceAddresses, parseIp, type RegistryAddress } from '../../policy/index.js';

/**
 * The record a registry announces at `<prefix>/_policy/registries/<id>` under its lease, so that
 * gateways refuse its admin API as an upstream too. Bound to a wildcard address, it answers on
 * every interface: each one is listed.
 */
export function registryAddress(id: string, url: string, host: string, port: number): RegistryAddress {
  const ip = parseIp(host);
  const wildcard = ip !== undefined && ip.bytes.every((b) => b === 0);
  const hosts = wildcard ? [host, ...interfaceAddresses()] : [host];
  return {
    id,
    url,
    addresses: hosts.map((h) => (h.includes(':') && !h.startsWith('[') ? `[${h}]:${port}` : `${h}:${port}`)),
    startedAt: new Date().toISOString(),
  };
}
