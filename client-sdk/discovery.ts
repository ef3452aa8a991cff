import axios, { type AxiosInstance } from 'axios';
import type { TopologyDocument } from '../openapi/index.js';
import { Backoff, retryAfterMs } from './backoff.js';
import { parseDocument } from './document.js';
import { TypedEmitter } from './emitter.js';
import { DiscoveryRefusedError, DiscoveryTimeoutError, InvalidTopologyError, TopologyUnavailableError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { Platform } from './platform.js';
import { RevisionTrust } from './revision-trust.js';
import { SignatureVerifier } from './signature.js';

/** A gateway that did not give a usable answer, and why. */
export interface SourceFailure {
  source: string;
  error: string;
}

/** The two kinds of discovery request, each with its own backoff. */
export type DiscoveryRequestKind = 'long-poll' | 'fetch';

/** Discovery waits before its next request (see WaymarkClientOptions for the policy). */
export interface BackoffEvent {
  /**
   * `long-poll-refused`: the gateway holds no more long-polls (503/429); the client polls it at
   * the refresh interval and long-polls again after `delayMs`. `refused`: a fetch was answered
   * 503/429. `failed`: no usable answer (connection, timeout, other status, rejected document).
   */
  reason: 'long-poll-refused' | 'refused' | 'failed';
  kind: DiscoveryRequestKind;
  /** Time before the next request of this kind, ms (the backoff, or the gateway's Retry-After if longer). */
  delayMs: number;
  /** Consecutive failures of this kind, this one included. */
  attempt: number;
  /** The gateway that failed or refused. */
  gateway: string;
  /** HTTP status of a refusal. */
  status?: number;
  /** What the gateway's Retry-After asked for, ms (capped by `maxRetryAfterMs`). */
  retryAfterMs?: number;
  error: string;
}

/** Counters of discovery since the client was created (`WaymarkClient.stats()`). */
export interface DiscoveryStats {
  /** Topology requests sent (bootstrap, polls, long-polls, confirmations). */
  discoveryRequests: number;
  /** Of which long-polls (`?wait=`). */
  longPolls: number;
  /** Requests without a usable answer (refusals included). */
  discoveryFailures: number;
  /** Requests refused with 503 or 429. */
  refusals: number;
  /** Of which long-polls (the client polled at the interval meanwhile). */
  longPollsRefused: number;
  /** Backoffs (`backoff` events) and their total delay, ms. */
  backoffs: number;
  backoffMs: number;
  /** Documents accepted, and rejected (malformed, other environment, rollback, too large). */
  documentsAccepted: number;
  documentsRejected: number;
}

/** Slack when checking whether a deferral is over: timers may fire a millisecond early by the wall clock. */
const TIMER_SLACK_MS = 5;

export interface DiscoveryEvents {
  /** A newer document was accepted. */
  document: [doc: TopologyDocument, previous: TopologyDocument | undefined, source: string];
  /** A gateway answered (the document is current as far as it knows). */
  contact: [source: string];
  /** A received document was rejected; the held one stays. */
  rejected: [error: InvalidTopologyError];
  /** Every known gateway failed in a row; `since` is the last contact (or undefined if never). */
  unreachable: [failures: SourceFailure[]];
  /** A discovery request failed or was refused: the next one of its kind waits. */
  backoff: [event: BackoffEvent];
}

type Fetched = { status: 200; doc: TopologyDocument; etag: string | undefined } | { status: 304 };

/**
 * Keeps the topology document current: fetches it from the bootstrap gateways (first success
 * wins), then long-polls one live gateway (`?wait=<revision>&timeout=<s>`), or polls it with
 * If-None-Match every refresh interval (plus jitter, never under `minRefreshIntervalSeconds`) if
 * it answers long-polls at once. When the gateway in use fails, discovery moves to the next one
 * (the document's gateways, own region first, then the bootstrap list). Every failure or refusal
 * earns a backoff (capped, jittered, at least the gateway's Retry-After; per request kind, reset
 * only by a success of that kind), and a gateway that refuses long-polls (503/429) is polled at
 * the interval until it is long-polled again after that backoff. Documents that are malformed,
 * of another environment or older than the one held are rejected, so a lagging gateway cannot
 * roll the client back; a single lying or reset gateway cannot pin it either (see RevisionTrust
 * for the rule). Every fetch has a total deadline (`discoveryTimeoutMs`, plus the hold of a
 * long-poll), however slowly the gateway sends, so bootstrap() (and ready()) settles within that
 * deadline per bootstrap gateway.
 */
export class Discovery extends TypedEmitter<DiscoveryEvents> {
  private doc: TopologyDocument | undefined;
  private etag: string | undefined;
  private current: string | undefined;
  private pollMode = false;
  private refreshRequested = false;
  /** After a failure or a cache start: a plain GET first, whose answer confirms at once (a long-poll would be held). */
  private confirmFirst = true;
  private wake = new AbortController();
  private readonly closing = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly http: AxiosInstance;
  private readonly trust = new RevisionTrust();
  /** Checks signed documents when the client has trustedKeys. */
  private readonly verifier: SignatureVerifier | undefined;
  /** The revision of the held document's signed statement (with trustedKeys). */
  private statementRevision: number | undefined;
  /** Sources asked to confirm the held revision since it was adopted. */
  private asked = new Set<string>();
  /**
   * Sources whose last confirmation request got no answer: not asked again until they answer
   * some fetch, so a dead gateway does not delay the long-poll after every change.
   */
  private readonly silent = new Set<string>();
  private readonly backoff: Record<DiscoveryRequestKind, Backoff>;
  /** Long-polls were refused: poll until then (ms since epoch). */
  private longPollAfter = 0;
  private readonly counters: DiscoveryStats = {
    discoveryRequests: 0,
    longPolls: 0,
    discoveryFailures: 0,
    refusals: 0,
    longPollsRefused: 0,
    backoffs: 0,
    backoffMs: 0,
    documentsAccepted: 0,
    documentsRejected: 0,
  };
  /** Time of the last answer from any gateway (ms since epoch); 0 if none yet. */
  lastContactAt = 0;
  /** Since when every gateway fails; undefined while one answers. */
  unreachableSince: number | undefined;

  constructor(
    private readonly platform: Platform,
    private readonly options: ResolvedOptions,
    /** Gateways of the held document, preferred first; the bootstrap list is appended. */
    private readonly preferred: () => string[],
  ) {
    super();
    this.verifier = options.trustedKeys ? new SignatureVerifier(options.trustedKeys) : undefined;
    this.http = axios.create({ adapter: platform.adapter, maxRedirects: 0, responseType: 'text', transformResponse: [(data: unknown) => data] });
    const policy = {
      baseMs: options.discoveryRetryDelayMs,
      multiplier: options.discoveryBackoffMultiplier,
      maxMs: options.discoveryMaxRetryDelayMs,
      jitter: options.discoveryBackoffJitter,
    };
    this.backoff = { 'long-poll': new Backoff(policy), fetch: new Backoff(policy) };
    this.on('rejected', () => this.counters.documentsRejected++);
  }

  /** A copy of the counters. */
  stats(): DiscoveryStats {
    return { ...this.counters };
  }

  get document(): TopologyDocument | undefined {
    return this.doc;
  }

  /**
   * Takes a document if it is acceptable: 'accepted' (newer, or older and overruling a held
   * revision that two other sources contradict), 'same' (the revision held); throws
   * InvalidTopologyError for another environment, an older revision (rollback) or a newer one
   * from a suspect source that no other source confirms yet.
   */
  offer(doc: TopologyDocument, source: string): 'accepted' | 'same' {
    const expected = this.options.environment ?? this.doc?.environment;
    if (expected !== undefined && doc.environment !== expected) {
      throw new InvalidTopologyError(source, 'environment', [`environment "${doc.environment}" is not the expected "${expected}"`]);
    }
    const held = this.doc?.revision;
    switch (this.trust.judge(source, doc.revision, held)) {
      case 'same':
        return 'same';
      case 'rollback':
        throw new InvalidTopologyError(source, 'rollback', [`revision ${doc.revision} is older than the revision ${held} held`]);
      case 'unconfirmed':
        throw new InvalidTopologyError(source, 'unconfirmed', [
          `revision ${doc.revision} comes from a gateway whose earlier revision two other gateways contradicted; it is taken once another gateway serves it`,
        ]);
      case 'adopt':
      case 'overrule':
        break;
    }
    const previous = this.doc;
    this.doc = doc;
    this.counters.documentsAccepted++;
    this.asked = new Set();
    this.emit('document', doc, previous, source);
    return 'accepted';
  }

  /**
   * offer() behind the signature check when the client has trustedKeys: the document must verify
   * (InvalidTopologyError otherwise), its statement must not be older than the held one's, and
   * what is offered is the document without the gateways the statement does not allow.
   */
  async take(doc: TopologyDocument, source: string): Promise<'accepted' | 'same'> {
    if (!this.verifier) return this.offer(doc, source);
    const { doc: allowed, statement } = await this.verifier.verify(doc, source);
    const held = this.statementRevision;
    if (held !== undefined && statement.revision < held) {
      throw new InvalidTopologyError(source, 'rollback', [`its signed statement (revision ${statement.revision}) is older than the one held (revision ${held})`]);
    }
    const outcome = this.offer(allowed, source);
    if (outcome === 'accepted') this.statementRevision = statement.revision;
    return outcome;
  }

  /** Tries the bootstrap gateways in order until one gives a usable document. */
  async bootstrap(): Promise<void> {
    const failures: SourceFailure[] = [];
    for (const source of this.options.bootstrap) {
      if (this.closing.signal.aborted) break;
      try {
        await this.fetchOnce(source, false);
        this.current = source;
        this.confirmFirst = false;
        return;
      } catch (err) {
        failures.push({ source, error: describe(err) });
      }
    }
    throw new TopologyUnavailableError(failures);
  }

  /** Starts keeping the document fresh in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Fetches the document now instead of waiting for the long-poll or the next poll, preferably
   * from `hint` (a gateway that showed a newer revision).
   */
  refresh(hint?: string): void {
    if (hint !== undefined && this.sources().includes(hint)) this.current = hint;
    this.refreshRequested = true;
    this.wake.abort();
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.wake.abort();
    await this.loop;
  }

  private sources(): string[] {
    return [...new Set([...this.preferred(), ...this.options.bootstrap])];
  }

  private async run(): Promise<void> {
    let failures: SourceFailure[] = [];
    while (!this.closing.signal.aborted) {
      if (this.wake.signal.aborted) this.wake = new AbortController();
      const sources = this.sources();
      const confirmer = this.confirmer(sources);
      if (confirmer !== undefined) {
        await this.confirm(confirmer);
        continue;
      }
      const source = this.current !== undefined && sources.includes(this.current) ? this.current : sources[0]!;
      this.current = source;
      const deferred = this.longPollAfter - Date.now() > TIMER_SLACK_MS;
      const longPoll = this.doc !== undefined && !this.pollMode && !deferred && !this.refreshRequested && !this.confirmFirst;
      const kind: DiscoveryRequestKind = longPoll ? 'long-poll' : 'fetch';
      this.refreshRequested = false;
      try {
        await this.fetchOnce(source, longPoll);
        this.backoff[kind].reset();
        this.confirmFirst = false;
        failures = [];
        if ((this.pollMode || deferred) && !this.refreshRequested) {
          // Polling: at the interval, or sooner when refused long-polls may be tried again.
          const untilLongPoll = this.pollMode ? Number.POSITIVE_INFINITY : this.longPollAfter - Date.now();
          await this.sleep(Math.min(this.pollDelayMs(), Math.max(0, untilLongPoll)));
        }
      } catch (err) {
        if (this.closing.signal.aborted) break;
        if (longPoll && this.wake.signal.aborted) continue; // a refresh cut the long-poll short
        const refused = err instanceof DiscoveryRefusedError ? err : undefined;
        const backoffMs = this.backoff[kind].next();
        const delayMs = Math.max(backoffMs, refused?.retryAfterMs ?? 0);
        const event = {
          kind,
          delayMs,
          attempt: this.backoff[kind].attempt,
          gateway: source,
          ...(refused ? { status: refused.status } : {}),
          ...(refused?.retryAfterMs !== undefined ? { retryAfterMs: refused.retryAfterMs } : {}),
          error: describe(err),
        };
        if (refused && longPoll) {
          // The gateway answers but holds no more long-polls: poll it meanwhile (its refusal says
          // its revision, so a change is fetched at once) and long-poll again after the delay.
          this.longPollAfter = Date.now() + delayMs;
          this.noteBackoff({ reason: 'long-poll-refused', ...event });
          if (refused.revision !== undefined && this.doc && refused.revision > this.doc.revision) this.refreshRequested = true;
          else await this.sleep(Math.min(this.pollDelayMs(), delayMs));
          continue;
        }
        failures.push({ source, error: describe(err) });
        this.confirmFirst = true;
        this.current = sources[(sources.indexOf(source) + 1) % sources.length];
        this.pollMode = false;
        if (failures.length >= sources.length) {
          this.unreachableSince ??= Date.now();
          this.emit('unreachable', failures);
          failures = [];
        }
        this.noteBackoff({ reason: refused ? 'refused' : 'failed', ...event });
        // Not cut short by a refresh: the refresh is made once the backoff is over.
        await this.pause(delayMs);
      }
    }
  }

  private noteBackoff(event: BackoffEvent): void {
    this.counters.backoffs++;
    this.counters.backoffMs += event.delayMs;
    this.emit('backoff', event);
  }

  /**
   * The next source to ask for the held revision while only one source vouches for it: one
   * that has not been asked since the revision was adopted and does not serve it already.
   */
  private confirmer(sources: readonly string[]): string | undefined {
    if (!this.doc || this.trust.vouchers(this.doc.revision) >= 2) return undefined;
    const held = this.doc.revision;
    return sources.find((s) => !this.asked.has(s) && !this.silent.has(s) && this.trust.latestOf(s) !== held);
  }

  /**
   * A plain GET to a source only to learn its revision: an older or unconfirmed answer is
   * recorded (it may overrule a lie), not an error of discovery, and not reported as rejected.
   */
  private async confirm(source: string): Promise<void> {
    this.asked.add(source);
    try {
      await this.fetchOnce(source, false, true);
    } catch (err) {
      // A source that fails or lags is simply not a confirmation; the loop goes on.
      if (!(err instanceof InvalidTopologyError)) this.silent.add(source);
    }
  }

  /** One GET of the document from `source` (a long-poll if asked and a document is held). */
  private async fetchOnce(source: string, longPoll: boolean, confirming = false): Promise<void> {
    const holdSeconds = Math.max(1, Math.round((this.options.longPollSeconds - Math.random() * this.jitterSeconds()) * 10) / 10);
    const query = longPoll && this.doc ? `?wait=${this.doc.revision}&timeout=${holdSeconds}` : '';
    const url = `${source}/.well-known/topology${query}`;
    const started = performance.now();
    this.counters.discoveryRequests++;
    if (query) this.counters.longPolls++;
    try {
      await this.exchange(source, url, query, longPoll, holdSeconds, confirming, started);
    } catch (err) {
      this.counters.discoveryFailures++;
      if (err instanceof DiscoveryRefusedError) {
        this.counters.refusals++;
        if (query) this.counters.longPollsRefused++;
      }
      throw err;
    }
  }

  /** The GET itself and what its answer means; fetchOnce counts it. */
  private async exchange(
    source: string,
    url: string,
    query: string,
    longPoll: boolean,
    holdSeconds: number,
    confirming: boolean,
    started: number,
  ): Promise<void> {
    const trace = { connected: false, connectTimedOut: false };
    // A total deadline: axios's `timeout` only bounds the time between two bytes, so a gateway
    // that trickles its answer would hold discovery (and ready()) forever.
    const deadlineMs = this.options.discoveryTimeoutMs + (query ? holdSeconds * 1000 : 0);
    const deadline = AbortSignal.timeout(deadlineMs);
    let res;
    try {
      res = await this.http.get<string>(url, {
        // A refresh cuts a long-poll short, never a plain GET (which is as fresh as a refresh).
        signal: AbortSignal.any(query ? [deadline, this.wake.signal, this.closing.signal] : [deadline, this.closing.signal]),
        headers: this.etag && this.doc ? { 'If-None-Match': this.etag } : {},
        validateStatus: () => true,
        maxContentLength: this.options.maxDocumentBytes,
        ...this.platform.exchange(this.options.connectTimeoutMs, trace),
      });
    } catch (err) {
      if (deadline.aborted && !this.closing.signal.aborted) throw new DiscoveryTimeoutError(url, deadlineMs);
      if (/maxContentLength/.test((err as Error).message)) {
        const rejected = new InvalidTopologyError(url, 'too-large', [`the document is larger than ${this.options.maxDocumentBytes} bytes`]);
        this.emit('rejected', rejected);
        throw rejected;
      }
      throw err;
    }
    if (res.status === 503 || res.status === 429) {
      const revision = Number(res.headers['x-waymark-revision']);
      throw new DiscoveryRefusedError(
        url,
        res.status,
        retryAfterMs(res.headers['retry-after'], Date.now(), this.options.maxRetryAfterMs),
        Number.isSafeInteger(revision) && revision > 0 ? revision : undefined,
      );
    }
    const fetched = this.interpret(url, res.status, res.data, res.headers['etag']);
    let outcome: 'accepted' | 'same' = 'same';
    if (fetched.status === 200) {
      try {
        outcome = await this.take(fetched.doc, url);
      } catch (err) {
        const disagreement = err instanceof InvalidTopologyError && (err.reason === 'rollback' || err.reason === 'unconfirmed');
        if (err instanceof InvalidTopologyError && !(confirming && disagreement)) this.emit('rejected', err);
        throw err;
      }
      if (outcome === 'accepted') this.etag = fetched.etag;
    } else if (this.doc) {
      this.trust.record(url, this.doc.revision); // a 304: the source serves the held revision
    }
    this.lastContactAt = Date.now();
    this.silent.delete(source);
    this.unreachableSince = undefined;
    this.emit('contact', source);
    this.noteHold(longPoll, started, holdSeconds, outcome === 'accepted');
  }

  private interpret(url: string, status: number, body: unknown, etag: unknown): Fetched {
    if (status === 304) {
      if (!this.doc) throw new Error('HTTP 304 without a document held');
      return { status: 304 };
    }
    if (status !== 200) throw new Error(`HTTP ${status}`);
    try {
      const doc = parseDocument(typeof body === 'string' ? body : String(body), url, this.options.maxDocumentBytes);
      return { status: 200, doc, etag: typeof etag === 'string' ? etag : undefined };
    } catch (err) {
      if (err instanceof InvalidTopologyError) this.emit('rejected', err);
      throw err;
    }
  }

  /** A gateway that answers a long-poll at once without news does not hold them: poll it instead. */
  private noteHold(longPoll: boolean, started: number, holdSeconds: number, changed: boolean): void {
    if (!longPoll || changed) return;
    if (performance.now() - started < Math.min(1000, holdSeconds * 500)) this.pollMode = true;
  }

  private jitterSeconds(): number {
    return this.doc?.refresh.jitterSeconds ?? this.options.refreshJitterSeconds;
  }

  /** The document's interval plus jitter, never under the floor whatever the document says. */
  private pollDelayMs(): number {
    const interval = this.doc?.refresh.intervalSeconds ?? this.options.refreshIntervalSeconds;
    return Math.max(this.options.minRefreshIntervalSeconds, interval + Math.random() * this.jitterSeconds()) * 1000;
  }

  /** Waits `ms` unless the client closes (a refresh does not cut a backoff short). */
  private pause(ms: number): Promise<void> {
    return this.wait(ms, this.closing.signal);
  }

  /** Waits `ms`, or less if a refresh or close comes first. */
  private sleep(ms: number): Promise<void> {
    return this.wait(ms, AbortSignal.any([this.wake.signal, this.closing.signal]));
  }

  private wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function describe(err: unknown): string {
  if (err instanceof InvalidTopologyError) return err.message;
  const e = err as { code?: string; message?: string };
  return e.code && !String(e.message).includes(e.code) ? `${e.code}: ${e.message}` : String(e.message ?? err);
}
