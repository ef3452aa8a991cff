import { EventEmitter } from 'node:events';
import type { GatewayRegistration, GatewayReport } from '../openapi/index.js';
import { EtcdPermissionError, LeasedKeys, type EtcdConnection, type InvalidRecord, type KeyLayout, type LeasedKeysOptions } from '../store/index.js';
import {
  checkRecord,
  MAX_INVALID_KEY_LENGTH,
  MAX_INVALID_REASON_LENGTH,
  MAX_REPORTED_INVALID_RECORDS,
  summarize,
  WaymarkError,
} from '../topology/index.js';

/**
 * The gateway was about to write a record the core validators reject: a bug, or options the
 * option checks let through. Nothing is written, so no reader ever sees it.
 */
export class InvalidOwnRecordError extends WaymarkError {
  constructor(
    readonly key: string,
    readonly problems: readonly string[],
  ) {
    super('INVALID_RECORD', `the gateway refused to write ${key}, which would be invalid: ${summarize(problems)}`);
  }
}

/** etcd denied writing the registration or the report: the etcd user's role does not cover this gateway's region. */
export class RegistrationRefusedError extends WaymarkError {
  constructor(keys: readonly string[], cause: unknown) {
    super(
      'ETCD_PERMISSION_DENIED',
      `etcd denied this gateway writing ${keys.join(' and ')}: its etcd user's role may not write them (a gateway's role writes only its own environment's and region's registrations and reports: check --environment, --region and --etcd-user); the gateway keeps serving and retries`,
      { cause },
    );
  }
}

export type RegistrationState = NonNullable<GatewayReport['registration']>;

export interface RegistrationEvents {
  /** The registration (and report) are in etcd under a new lease. */
  registered: [leaseId: string];
  /** The lease was lost; registering again in the background. */
  lost: [error: Error];
  /** An attempt to register failed (etcd down, or the role refused); it is retried with backoff. */
  failed: [error: Error];
  /** A report could not be written; the next one (or the next grant) writes the latest. */
  reportFailed: [error: Error];
  /** One keepalive of the lease failed; the lease may still be alive. */
  keepaliveFailed: [error: Error];
  /** A report was not written because it would be invalid (a bug): the previous one stays. */
  reportInvalid: [error: InvalidOwnRecordError];
}

/** What a gateway (or the primary of `--workers N`) tells its listeners of its registration. */
export interface PresenceEvents {
  /** The registration is in etcd under a (new) lease. */
  registered: [leaseId: string];
  /** The lease was lost; registering again in the background. */
  registering: [error: Error];
  /**
   * Registering failed and is retried (the gateway serves meanwhile). Emitted when the reason
   * changes, not on every retry: a RegistrationRefusedError when etcd's role denies the keys.
   */
  registrationFailed: [error: Error];
  /** A keepalive of the registration lease failed (the lease may still be alive). */
  keepaliveFailed: [error: Error];
}

/** What an owner does on top of passing a registration's events on (metrics, telling workers). */
export interface PresenceHooks {
  registered?: () => void;
  lost?: () => void;
  keepaliveFailed?: () => void;
}

/**
 * Passes a Registration's events on as the owner's PresenceEvents: `lost` as `registering`, and
 * `failed` as `registrationFailed` only when its reason changes (not on every retry).
 */
export function forwardPresence(registration: Presence, owner: Pick<EventEmitter<PresenceEvents>, 'emit'>, hooks: PresenceHooks = {}): void {
  let lastFailure: string | undefined;
  registration.on('registered', (id) => {
    lastFailure = undefined;
    hooks.registered?.();
    owner.emit('registered', id);
  });
  registration.on('failed', (err) => {
    if (err.message === lastFailure) return;
    lastFailure = err.message;
    owner.emit('registrationFailed', err);
  });
  registration.on('lost', (err) => {
    hooks.lost?.();
    owner.emit('registering', err);
  });
  registration.on('keepaliveFailed', (err) => {
    hooks.keepaliveFailed?.();
    owner.emit('keepaliveFailed', err);
  });
}

/**
 * A gateway's presence in etcd as its Gateway drives it: its own Registration, or, in a worker of
 * `waymark gateway --workers N`, the primary's (gateway/worker-link.ts).
 */
export interface Presence extends EventEmitter<RegistrationEvents> {
  readonly state: RegistrationState;
  readonly report: GatewayReport;
  setInvalidRecords(records: readonly InvalidRecord[]): void;
  start(): Promise<void>;
  update(appliedRevision: number, staleSince: Date | undefined): void;
  close(): Promise<void>;
}

export interface RegistrationInit {
  environment: string;
  region: string;
  id: string;
  url: string;
  dispatch: boolean;
  ttlSeconds: number;
  lease?: Omit<LeasedKeysOptions, 'ttlSeconds'>;
  /**
   * A report of a new revision is written after a random delay between half this and this, ms
   * (changes in between join it): a change wakes every gateway of the environment at once, and
   * their reports would otherwise all reach etcd together and compete with answering the change's
   * long-polls (staggered like Consul's anti-entropy syncs). The first report, written with the
   * registration, is not delayed. Default REGISTRATION_DEFAULTS.reportMaxDelayMs.
   */
  reportMaxDelayMs?: number;
}

export const REGISTRATION_DEFAULTS = { reportMaxDelayMs: 300 } as const;

/**
 * A gateway's presence in etcd: its GatewayRegistration in the environment (so it appears in
 * every topology) and its GatewayReport (the revision it applied, for `waymark status`), both
 * under one lease. If the gateway dies, both vanish within the TTL; if the lease is lost during
 * an outage, both are written again under a new one as soon as etcd answers.
 */
export class Registration extends EventEmitter<RegistrationEvents> implements Presence {
  private readonly keys: LeasedKeys;
  private readonly registrationKey: string;
  private readonly reportKey: string;
  private readonly startedAt = new Date().toISOString();
  private draining = false;
  private latest: GatewayReport;
  private reporting: Promise<void> | undefined;
  private reportAgain = false;
  /** The delayed report waiting to be written. */
  private reportTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private invalid: Pick<GatewayReport, 'invalidRecordCount' | 'invalidRecords'> = {};

  constructor(
    conn: EtcdConnection,
    layout: KeyLayout,
    private readonly init: RegistrationInit,
  ) {
    super();
    this.registrationKey = layout.gateway(init.environment, init.region, init.id);
    this.reportKey = layout.report(init.environment, init.region, init.id);
    this.keys = new LeasedKeys(conn, { ...init.lease, ttlSeconds: init.ttlSeconds });
    this.latest = { id: init.id, region: init.region, appliedRevision: 0, stale: true, reportedAt: this.startedAt, registration: 'registering' };
    this.keys.on('granted', (id) => {
      // Keys written by the grant carry the report as last set, which said 'registering'.
      this.writeReport();
      this.emit('registered', id);
    });
    this.keys.on('keepaliveFailed', (err) => this.emit('keepaliveFailed', err));
    this.keys.on('grantFailed', (err) =>
      this.emit('failed', err instanceof EtcdPermissionError ? new RegistrationRefusedError([this.registrationKey, this.reportKey], err) : err),
    );
    this.keys.on('lost', (err) => {
      this.latest = { ...this.latest, registration: 'registering' };
      this.emit('lost', err);
    });
  }

  get state(): RegistrationState {
    if (this.draining) return 'draining';
    return this.keys.state === 'alive' ? 'registered' : 'registering';
  }

  /** The report as it stands (what etcd holds once registered). */
  get report(): GatewayReport {
    return { ...this.latest, ...this.invalid, registration: this.state };
  }

  /** The keys this gateway skips as invalid, for its report (the first ones only, each cut short). */
  setInvalidRecords(records: readonly InvalidRecord[]): void {
    this.invalid =
      records.length === 0
        ? {}
        : {
            invalidRecordCount: records.length,
            invalidRecords: records.slice(0, MAX_REPORTED_INVALID_RECORDS).map((r) => ({
              key: r.key.slice(0, MAX_INVALID_KEY_LENGTH),
              reason: r.reason.slice(0, MAX_INVALID_REASON_LENGTH),
            })),
          };
    this.queueReport();
  }

  /**
   * Registers. Resolves once registered, or once the first attempt failed: registration then
   * goes on in the background, with backoff, for as long as the gateway runs.
   */
  async start(): Promise<void> {
    const value: GatewayRegistration = {
      id: this.init.id,
      region: this.init.region,
      url: this.init.url,
      status: 'up',
      startedAt: this.startedAt,
      dispatch: this.init.dispatch,
    };
    // The same rule every reader applies: a registration they would skip must not be written.
    const checked = checkRecord('gateway', value, { name: this.init.id, region: this.init.region });
    if (!checked.ok) throw new InvalidOwnRecordError(this.registrationKey, checked.problems);
    await this.keys.put(this.registrationKey, JSON.stringify(value));
    await this.keys.put(this.reportKey, JSON.stringify(this.latest));
    this.starting = this.keys.start().catch(() => this.keys.startInBackground());
    await this.starting;
  }

  /** Records what the gateway applied; written under the lease, coalesced (latest wins). */
  update(appliedRevision: number, staleSince: Date | undefined): void {
    this.latest = {
      id: this.init.id,
      region: this.init.region,
      appliedRevision,
      stale: staleSince !== undefined,
      ...(staleSince ? { staleSince: staleSince.toISOString() } : {}),
      reportedAt: new Date().toISOString(),
      registration: this.state,
    };
    this.queueReport();
  }

  /** Revokes the lease: the registration and the report leave etcd at once. */
  async close(): Promise<void> {
    this.draining = true;
    clearTimeout(this.reportTimer);
    // A first grant still writing its keys would otherwise escape the revoke.
    await this.starting;
    await this.keys.close();
    await this.reporting?.catch(() => undefined);
  }

  /** Writes the latest report after the stagger delay, unless one is already waiting (it will carry this one). */
  private queueReport(): void {
    if (this.draining || this.reportTimer) return;
    const max = this.init.reportMaxDelayMs ?? REGISTRATION_DEFAULTS.reportMaxDelayMs;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      this.writeReport();
    }, max / 2 + Math.random() * (max / 2));
  }

  private writeReport(): void {
    if (this.draining) return;
    if (this.reporting) {
      this.reportAgain = true;
      return;
    }
    this.reporting = (async () => {
      do {
        this.reportAgain = false;
        const report: GatewayReport = { ...this.latest, ...this.invalid, registration: this.state, reportedAt: new Date().toISOString() };
        const checked = checkRecord('report', report, { name: this.init.id, region: this.init.region });
        if (!checked.ok) {
          this.emit('reportInvalid', new InvalidOwnRecordError(this.reportKey, checked.problems));
          continue;
        }
        const body = JSON.stringify(report);
        try {
          await this.keys.put(this.reportKey, body);
        } catch (err) {
          this.emit('reportFailed', err as Error);
        }
      } while (this.reportAgain && !this.draining);
    })().finally(() => {
      this.reporting = undefined;
    });
  }
}
