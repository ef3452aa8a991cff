import { EventEmitter } from 'node:events';
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { BundlePayload, GatewayRegistration, RegionDefinition, ServiceDefinition } from '../openapi/index.js';
import { gatewayKey, TopologySnapshot } from '../store/index.js';
import { checkRecord, parseSignedStatement, type SignedStatement } from '../topology/index.js';
import { BundleRejectedError } from './errors.js';

/** A public key a bundle gateway trusts: the JWK of `waymark keys list -o json`. */
export interface BundleTrustedKey {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid?: string;
}

/** A verified bundle, as served. */
export interface LoadedBundle {
  payload: BundlePayload;
  statement: SignedStatement;
  loadedAt: Date;
}

export interface BundleSourceEvents {
  /** A newer (or the first) bundle was verified and is to be served. */
  bundle: [bundle: LoadedBundle];
  /** A replacement was refused; the bundle served before stays. */
  rejected: [error: BundleRejectedError];
}

export const BUNDLE_DEFAULTS = {
  /** How often the file is checked when the directory watch says nothing (it can miss events on some file systems). */
  pollIntervalMs: 2000,
} as const;

const BUNDLE_TYPE = 'waymark-bundle+jws';

/**
 * The topology of a gateway without etcd: a bundle file (`waymark export`) verified against
 * trusted keys, reloaded when the file is replaced (a watch on its directory, since an atomic
 * rename replaces the inode a file watch would follow, plus polling as a fallback). A bundle
 * with a bad signature, of another environment or older than the one served is refused.
 */
export class BundleSource extends EventEmitter<BundleSourceEvents> {
  private readonly keys: Array<{ kid: string | undefined; key: KeyObject }>;
  private current: LoadedBundle | undefined;
  private lastText = '';
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private again = false;
  private lastStat = '';

  constructor(
    readonly file: string,
    trusted: readonly BundleTrustedKey[],
    private readonly environment: string,
    private readonly pollIntervalMs: number = BUNDLE_DEFAULTS.pollIntervalMs,
  ) {
    super();
    this.keys = trusted.map((k) => ({ kid: k.kid, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.x }, format: 'jwk' }) }));
  }

  get bundle(): LoadedBundle | undefined {
    return this.current;
  }

  /** Loads the file once; throws BundleRejectedError (a gateway cannot start without a good bundle). */
  async load(): Promise<LoadedBundle> {
    const text = await this.read();
    const loaded = this.verified(text);
    this.accept(loaded, text);
    return loaded;
  }

  /** Starts following the file. */
  start(): void {
    try {
      this.watcher = watch(dirname(this.file), (_event, name) => {
        if (name === null || name === basename(this.file)) this.check();
      });
      this.watcher.on('error', () => undefined); // polling goes on
    } catch {
      // No directory watch on this file system: polling alone.
    }
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  close(): void {
    this.watcher?.close();
    clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    const s = await stat(this.file).catch(() => undefined);
    const key = s ? `${s.ino}:${s.size}:${s.mtimeMs}` : '';
    if (key !== this.lastStat) {
      this.lastStat = key;
      this.check();
    }
  }

  /** One check at a time; a change seen meanwhile checks again after it. */
  private check(): void {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = this.reload().finally(() => {
      this.checking = undefined;
      if (this.again) {
        this.again = false;
        this.check();
      }
    });
  }

  private async reload(): Promise<void> {
    let text: string;
    try {
      text = await this.read();
    } catch (err) {
      // A missing file mid-replacement is not news; anything else is reported.
      if (!(err instanceof BundleRejectedError && /ENOENT/.test(err.message))) this.emit('rejected', err as BundleRejectedError);
      return;
    }
    if (text === this.lastText) return;
    try {
      const loaded = this.verified(text);
      if (this.current && loaded.payload.revision < this.current.payload.revision) {
        throw new BundleRejectedError(this.file, `its revision ${loaded.payload.revision} is older than the revision ${this.current.payload.revision} served`);
      }
      this.accept(loaded, text);
    } catch (err) {
      this.lastText = text;
      this.emit('rejected', err instanceof BundleRejectedError ? err : new BundleRejectedError(this.file, (err as Error).message));
    }
  }

  private accept(loaded: LoadedBundle, text: string): void {
    this.current = loaded;
    this.lastText = text;
    this.emit('bundle', loaded);
  }

  private async read(): Promise<string> {
    try {
      return await readFile(this.file, 'utf8');
    } catch (err) {
      throw new BundleRejectedError(this.file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }

  /** Parses and verifies a bundle's text; throws BundleRejectedError naming the problem. */
  private verified(text: string): LoadedBundle {
    const fail = (problem: string): never => {
      throw new BundleRejectedError(this.file, problem);
    };
    let outer: unknown;
    try {
      outer = JSON.parse(text);
    } catch {
      fail('not JSON (a bundle is the flattened JWS JSON that `waymark export` writes)');
    }
    if (!isObjectValue(outer) || typeof outer.protected !== 'string' || typeof outer.payload !== 'string' || typeof outer.signature !== 'string') {
      return fail('must be {"protected","payload","signature"} (JWS flattened JSON serialization)');
    }
    const header = decodeJson(outer.protected);
    if (!isObjectValue(header) || header.alg !== 'EdDSA' || header.typ !== BUNDLE_TYPE || typeof header.kid !== 'string' || header.crit !== undefined) {
      return fail(`its protected header must be {"alg":"EdDSA","kid":…,"typ":"${BUNDLE_TYPE}"}`);
    }
    if (!this.verifies(String(header.kid), `${outer.protected}.${outer.payload}`, outer.signature)) {
      return fail(`its signature does not verify with a trusted key (kid ${String(header.kid)})`);
    }
    const payload = decodeJson(outer.payload);
    if (!isObjectValue(payload)) return fail('its payload is not a JSON object');
    if (payload.environment !== this.environment) fail(`it is of environment ${JSON.stringify(payload.environment)}, this gateway serves ${this.environment}`);
    if (!count(payload.revision) || typeof payload.exportedAt !== 'string') fail('its payload needs a revision and exportedAt');
    const statement = parseSignedStatement(payload.topology);
    if (!statement.ok) return fail(statement.problems.join('; '));
    const s = statement.value;
    if (!this.verifies(s.header.kid, s.signingInput, Buffer.from(s.signature).toString('base64url'))) fail('its signed topology does not verify with a trusted key');
    if (s.payload.environment !== this.environment || s.payload.revision !== payload.revision) fail('its signed topology is not of its environment and revision');
    if (!Array.isArray(payload.regions) || !Array.isArray(payload.services)) return fail('its payload needs regions and services');
    for (const [kind, list] of [['region', payload.regions], ['service', payload.services]] as const) {
      list.forEach((record: unknown, i: number) => {
        const checked = checkRecord(kind, record);
        if (!checked.ok) fail(`${kind}s[${i}]: ${checked.problems.slice(0, 3).join('; ')}`);
      });
    }
    return { payload: payload as unknown as BundlePayload, statement: s, loadedAt: new Date() };
  }

  private verifies(kid: string, input: string, signature: string): boolean {
    const sig = Buffer.from(signature, 'base64url');
    return this.keys.some((k) => (k.kid === undefined || k.kid === kid) && verify(null, Buffer.from(input, 'ascii'), k.key, sig));
  }
}

/** The snapshot a bundle gateway serves: the bundle's records, its statement, and itself as the only gateway. */
export function bundleSnapshot(bundle: LoadedBundle, self: GatewayRegistration): TopologySnapshot {
  const p = bundle.payload;
  return new TopologySnapshot(
    p.environment,
    p.revision,
    new Map(p.regions.map((r: RegionDefinition) => [r.name, r])),
    new Map(p.services.map((s: ServiceDefinition) => [s.name, s])),
    new Map([[gatewayKey(self.region, self.id), self]]),
    undefined,
    bundle.statement,
  );
}

function isObjectValue(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}
