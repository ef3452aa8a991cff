/**
 * A registry stand-in run as its own process (`node --import tsx test/support/apply-process.ts`),
 * so a test can SIGKILL it in the middle of a multi-transaction apply.
 *
 * It reads one ApplyJob as JSON on stdin, optionally grants a lease (recorded in the apply's
 * marker, as the registry does), runs commitChanges, and writes one JSON line per step to stdout:
 * `{"event":"lease","id":…}`, then `{"event":"done","revision":…,"transactions":…}`.
 */
import { commitChanges, connectEtcd, KeyLayout, type Mutation } from '../../store/index.js';
import type { CommitRecord } from '../../openapi/index.js';

export interface ApplyJob {
  endpoints: string[];
  environment: string;
  mutations: Mutation[];
  expectedCommitRevision: number;
  commit: CommitRecord;
  /** Key prefix; default the store's. */
  prefix?: string;
  maxTxnOps?: number;
  /** Grant a lease with this TTL and record it in the marker. */
  leaseTtlSeconds?: number;
  /** Default 30000: long, so a stalled connection does not end the apply before the test kills it. */
  callTimeoutMs?: number;
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

function say(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as ApplyJob;
  if (!Array.isArray(job.endpoints) || !Array.isArray(job.mutations) || typeof job.environment !== 'string') {
    throw new TypeError('apply-process: stdin must be an ApplyJob with endpoints, environment and mutations');
  }
  const conn = connectEtcd({ endpoints: job.endpoints, callTimeoutMs: job.callTimeoutMs ?? 30_000 });
  try {
    let lease: string | undefined;
    if (job.leaseTtlSeconds) {
      lease = await conn.call((c) => c.lease(job.leaseTtlSeconds!).grant());
      say({ event: 'lease', id: lease });
    }
    const res = await commitChanges(conn, new KeyLayout(job.prefix), job.environment, job.mutations, {
      expectedCommitRevision: job.expectedCommitRevision,
      commit: job.commit,
      ...(lease ? { lease } : {}),
      ...(job.maxTxnOps ? { maxTxnOps: job.maxTxnOps } : {}),
    });
    say({ event: 'done', revision: res.revision, transactions: res.transactions });
  } finally {
    conn.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`apply-process: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
