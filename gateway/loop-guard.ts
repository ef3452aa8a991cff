import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayHttpError } from './errors.js';

/**
 * The Waymark gateways a request went through, one opaque token each, in order. Each gateway
 * that forwards a request appends its own token (and drops what a client sent that is not a token).
 */
export const HOPS_HEADER = 'x-waymark-hops';

/**
 * Waymark gateways a request may already have passed when it reaches one: a dispatching gateway,
 * then the one that serves the service. A third means a service's upstream is a gateway.
 */
export const MAX_WAYMARK_HOPS = 2;

/**
 * `Via` entries a request may carry. A backstop for loops through an intermediary that drops
 * X-Waymark-Hops (Via is kept by every proxy, RFC 9110 §7.6.3); legitimate chains are far shorter.
 */
export const MAX_VIA_ENTRIES = 16;

/** `<gateway id>.<8 hex digits>`: the id helps people reading headers, the random part makes it unique. */
const TOKEN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.[0-9a-f]{8}$/;

export const loopDetected = (why: string) =>
  new GatewayHttpError(
    508,
    'LOOP_DETECTED',
    `${why}: a service's upstream points back at a Waymark gateway; its operators must fix the service's deployments`,
  );

/**
 * Loop detection. Gateway ids are unique only within a region (dev's and prod's gw-eu-west share
 * one), and `Via` pseudonyms are free text other proxies use too, so the gateway's own entry in
 * `Via` cannot tell a loop from a namesake: each gateway process instead carries a random token
 * in X-Waymark-Hops and refuses a request that already holds it, or that passed too many gateways.
 * A loop therefore ends with 508 on the first hop back (self) or within MAX_WAYMARK_HOPS.
 */
export class LoopGuard {
  readonly token: string;

  constructor(id: string) {
    this.token = `${id}.${randomBytes(4).toString('hex')}`;
  }

  /** The X-Waymark-Hops value to forward, or the 508 to answer instead. */
  next(req: IncomingMessage): { hops: string } | { error: GatewayHttpError } {
    const raw = req.headers[HOPS_HEADER];
    const via = req.headers.via;
    const viaEntries = via ? via.split(',').length : 0;
    // The common case, a request straight from a client: nothing to parse.
    if (raw === undefined && viaEntries <= MAX_VIA_ENTRIES) return { hops: this.token };
    const received = (Array.isArray(raw) ? raw.join(',') : raw ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => TOKEN.test(t));
    if (received.includes(this.token)) return { error: loopDetected('this request already went through this gateway') };
    if (received.length >= MAX_WAYMARK_HOPS) {
      return { error: loopDetected(`this request already went through ${received.length} Waymark gateways (at most ${MAX_WAYMARK_HOPS})`) };
    }
    if (viaEntries > MAX_VIA_ENTRIES) {
      return { error: loopDetected(`this request already went through more than ${MAX_VIA_ENTRIES} proxies (Via)`) };
    }
    return { hops: [...received, this.token].join(', ') };
  }
}
