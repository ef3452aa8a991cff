import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its private key, as PEM files. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

/** A throwaway CA with one server and one client certificate, in a temporary directory. */
export interface TestPki {
  readonly dir: string;
  /** The CA certificate that signed both. */
  readonly caFile: string;
  /** For a server on `serverIp` (subjectAltName IP), usable for server and client auth (etcd peers). */
  readonly server: CertFiles;
  /** For a client, with the common name given (etcd maps it to a user when no password is sent). */
  readonly client: CertFiles;
  /** Deletes the directory. */
  remove(): void;
}

export interface TestPkiOptions {
  /** Default '127.0.0.1'. */
  serverIp?: string;
  /** Default 'waymark-test-client'. */
  clientCommonName?: string;
  /** Default 1. */
  days?: number;
}

export const TEST_PKI_DEFAULTS = { serverIp: '127.0.0.1', clientCommonName: 'waymark-test-client', days: 1 } as const;

/**
 * Generates a CA, a server and a client certificate with openssl (P-256 keys: fast to make, and
 * accepted by etcd's Go TLS and by gRPC in Node). For tests only: keys are unencrypted.
 */
export function createTestPki(options: TestPkiOptions = {}): TestPki {
  const serverIp = options.serverIp ?? TEST_PKI_DEFAULTS.serverIp;
  const clientCn = options.clientCommonName ?? TEST_PKI_DEFAULTS.clientCommonName;
  const days = String(options.days ?? TEST_PKI_DEFAULTS.days);
  const dir = mkdtempSync(join(tmpdir(), 'waymark-pki-'));
  const file = (name: string) => join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl(['req', '-x509', ...key, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', days, '-subj', '/CN=waymark-test-ca']);
    const sign = (name: string, cn: string, extensions: string) => {
      writeFileSync(file(`${name}.ext`), extensions);
      openssl(['req', ...key, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`]);
      openssl([
        'x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
        '-out', file(`${name}.pem`), '-days', days, '-extfile', file(`${name}.ext`),
      ]);
      return { certFile: file(`${name}.pem`), keyFile: file(`${name}.key`) };
    };
    const server = sign(
      'server',
      serverIp,
      `subjectAltName=IP:${serverIp}\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
    const client = sign('client', clientCn, 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
    return { dir, caFile: file('ca.pem'), server, client, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function openssl(args: string[]): void {
  const res = spawnSync('openssl', args, { encoding: 'utf8', timeout: 10_000 });
  if (res.error) throw new Error(`openssl could not run (${res.error.message}): install openssl to run the TLS tests`);
  if (res.status !== 0) throw new Error(`openssl ${args[0]} failed (exit ${res.status}): ${res.stderr.trim()}`);
}
