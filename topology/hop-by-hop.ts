/**
 * Headers meaningful only for one connection (RFC 9110 §7.6.1): a proxy never forwards them,
 * whichever way the message goes. The gateway's proxy and the agent both drop them.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
