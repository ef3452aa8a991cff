import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { GatewayReport } from '../openapi/index.js';
import type { InvalidRecord } from '../store/index.js';
import { GatewayOptionsError } from './errors.js';
import type { Presence, RegistrationEvents, RegistrationState } from './registration.js';
import { isLinkMessage, type PrimaryMessage, type WorkerMessage } from './worker-messages.js';

/** A scrape waits this long for the primary's aggregated metrics (the primary itself bounds each worker's share). */
const METRICS_ANSWER_TIMEOUT_MS = 15_000;

/**
 * A worker's end of the IPC with the primary of `waymark gateway --workers N`. As the gateway's
 * Presence it never touches etcd: it tells the primary the URL and what the worker serves, and
 * mirrors the registration state the primary holds. It also answers the primary's metrics
 * collection and fetches the gateway-wide metrics for a scrape that reached this worker.
 */
export class WorkerLink extends EventEmitter<RegistrationEvents> implements Presence {
  private registration: RegistrationState = 'registering';
  private draining = false;
  private url: string | undefined;
  private latest: GatewayReport;
  private invalid: { key: string; reason: string }[] = [];
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (m: { text: string; contentType: string }) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private readonly onMessage = (m: unknown) => this.receive(m);

  constructor(
    private readonly identity: { id: string; region: string },
    private readonly registry: Registry,
    /** The primary revoked the registration: the gateway drains (and the worker then exits). */
    private readonly onDrain: () => void,
  ) {
    super();
    if (typeof process.send !== 'function') {
      throw new GatewayOptionsError('worker', 'is only for a process forked by the primary of `waymark gateway --workers N` (this one has no IPC channel)');
    }
    this.latest = { id: identity.id, region: identity.region, appliedRevision: 0, stale: true, reportedAt: new Date().toISOString() };
    process.on('message', this.onMessage);
  }

  get state(): RegistrationState {
    return this.draining ? 'draining' : this.registration;
  }

  get report(): GatewayReport {
    return { ...this.latest, registration: this.state };
  }

  /** Known once listening: the primary registers it. */
  setUrl(url: string): void {
    this.url = url;
  }

  /** Resolves at once: the primary registers in the background, like a first failed attempt would. */
  async start(): Promise<void> {
    if (this.url === undefined) throw new Error('the worker link needs the URL before start()');
    this.send({ waymark: 'listening', url: this.url });
  }

  update(appliedRevision: number, staleSince: Date | undefined): void {
    this.latest = {
      id: this.identity.id,
      region: this.identity.region,
      appliedRevision,
      stale: staleSince !== undefined,
      ...(staleSince ? { staleSince: staleSince.toISOString() } : {}),
      reportedAt: new Date().toISOString(),
    };
    this.sendApplied();
  }

  setInvalidRecords(records: readonly InvalidRecord[]): void {
    this.invalid = records.map((r) => ({ key: r.key, reason: r.reason }));
    this.sendApplied();
  }

  /** The gateway's metrics, aggregated by the primary over every worker (and its own). */
  metrics(): Promise<{ text: string; contentType: string }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the primary did not answer within ${METRICS_ANSWER_TIMEOUT_MS} ms`));
      }, METRICS_ANSWER_TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
      if (!this.send({ waymark: 'metrics', id })) {
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new Error('the primary is gone'));
      }
    });
  }

  /** The gateway drains: nothing to revoke (the primary did), but its state says so. */
  async close(): Promise<void> {
    this.draining = true;
  }

  /** Stops listening to the primary, once the gateway has drained (scrapes and collections work until then). */
  detach(): void {
    this.draining = true;
    process.off('message', this.onMessage);
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(new Error('the worker is closing'));
      this.waiting.delete(id);
    }
  }

  private sendApplied(): void {
    const { appliedRevision, stale, staleSince } = this.latest;
    this.send({ waymark: 'applied', revision: appliedRevision, stale, staleSince: staleSince ?? null, invalidRecords: this.invalid });
  }

  private send(m: WorkerMessage): boolean {
    if (!process.connected) return false;
    process.send!(m);
    return true;
  }

  private receive(message: unknown): void {
    if (!isLinkMessage(message)) return;
    const m = message as PrimaryMessage;
    switch (m.waymark) {
      case 'registration': {
        const was = this.registration;
        this.registration = m.state;
        if (m.state === 'registered' && was !== 'registered') this.emit('registered', 'primary');
        return;
      }
      case 'collect':
        this.registry.getMetricsAsJSON().then(
          (metrics) => this.send({ waymark: 'collected', id: m.id, metrics }),
          () => undefined, // the primary then uses this worker's last metrics
        );
        return;
      case 'metrics': {
        const w = this.waiting.get(m.id);
        if (!w) return;
        clearTimeout(w.timer);
        this.waiting.delete(m.id);
        w.resolve({ text: m.text, contentType: m.contentType });
        return;
      }
      case 'drain':
        this.onDrain();
        return;
    }
  }
}
