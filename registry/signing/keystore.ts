import { createHash, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SigningKey } from '../../openapi/index.js';
import { assertName } from '../../topology/index.js';
import { SigningUnavailableError } from './errors.js';

/** A private key as the registry keeps it: a JWK with its secret `d`, and Waymark's bookkeeping. */
interface StoredKey {
  kid: string;
  createdAt: string;
  status: SigningKey['status'];
  jwk: { kty: 'OKP'; crv: 'Ed25519'; x: string; d: string };
}

interface StoredKeys {
  environment: string;
  keys: StoredKey[];
}

/**
 * The registry's private signing keys, one file per environment in its key directory
 * (`<dir>/<env>.json`, mode 0600, the directory 0700), never in etcd: whoever can write etcd
 * must not be able to sign. Registries of one etcd share the directory (a volume or a copied
 * file). Files are replaced atomically (write to a temporary file, then rename).
 */
export class KeyStore {
  constructor(readonly dir: string) {}

  /**
   * `create`: the first key, active at once. `rotate`: a `next` key, published but not signing
   * yet, so clients can trust it before it is used. `activate`: the next key signs from now on,
   * the active one is retired (still published). Returns the public keys.
   */
  change(env: string, operation: 'create' | 'rotate' | 'activate'): SigningKey[] {
    const stored = this.read(env);
    let keys: StoredKey[];
    if (operation === 'activate') {
      keys = stored.keys.map((k): StoredKey => ({ ...k, status: k.status === 'next' ? 'active' : 'retired' }));
    } else {
      const { privateKey } = generateKeyPairSync('ed25519');
      const jwk = privateKey.export({ format: 'jwk' }) as { x: string; d: string };
      const key: StoredKey = {
        kid: thumbprint(jwk.x),
        createdAt: new Date().toISOString(),
        status: operation === 'create' ? 'active' : 'next',
        jwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d },
      };
      // A second rotate before activating replaces the unused next key.
      keys = [key, ...stored.keys.filter((k) => k.status !== 'next')];
    }
    const order = { next: 0, active: 1, retired: 2 } as const;
    keys.sort((a, b) => order[a.status] - order[b.status]);
    this.write({ environment: env, keys });
    return keys.map(publicOf);
  }

  /** Signs `input` (the JWS signing input) with the key `kid`; undefined when this registry does not hold it. */
  sign(env: string, kid: string, input: string): Uint8Array | undefined {
    const key = this.read(env).keys.find((k) => k.kid === kid);
    if (!key) return undefined;
    return sign(null, Buffer.from(input, 'ascii'), privateKeyOf(key));
  }

  private file(env: string): string {
    assertName('environment', env);
    return join(this.dir, `${env}.json`);
  }

  private read(env: string): StoredKeys {
    let text: string;
    try {
      text = readFileSync(this.file(env), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { environment: env, keys: [] };
      throw new SigningUnavailableError(`the key file of environment ${env} cannot be read: ${(err as Error).message}`);
    }
    try {
      const data = JSON.parse(text) as StoredKeys;
      if (data.environment !== env || !Array.isArray(data.keys)) throw new Error('not a key file of this environment');
      return data;
    } catch (err) {
      throw new SigningUnavailableError(`the key file ${this.file(env)} is not usable: ${(err as Error).message}`);
    }
  }

  private write(data: StoredKeys): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    const file = this.file(data.environment);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  }
}

const privateKeys = new WeakMap<StoredKey, KeyObject>();

function privateKeyOf(key: StoredKey): KeyObject {
  let k = privateKeys.get(key);
  if (!k) {
    k = createPrivateKey({ key: key.jwk, format: 'jwk' });
    privateKeys.set(key, k);
  }
  return k;
}

function publicOf(k: StoredKey): SigningKey {
  return { kid: k.kid, kty: 'OKP', crv: 'Ed25519', x: k.jwk.x, alg: 'EdDSA', use: 'sig', createdAt: k.createdAt, status: k.status };
}

/** The RFC 7638 thumbprint of an Ed25519 public key: SHA-256 of its required members, in order. */
export function thumbprint(x: string): string {
  return createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url');
}
