import { InvalidArgumentError, type Command } from 'commander';
import type { EnvironmentStatus, InvalidRecord } from '../../openapi/index.js';
import type { AdminClient } from '../admin-client.js';
import { alarmExitCode, laggards, STATUS_ALARM_DEFAULTS, statusAlarms, type Alarm } from '../alarms.js';
import { escapeControls } from '../escape.js';
import { formatData, formatTable, handled, palette } from '../output.js';
import { clientFrom, environmentFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

interface StatusFlags extends ConnectionFlags {
  environment?: string;
  output?: string;
  maxLag: number;
  maxLagFor: number;
}

/** How often status reads again while it waits out --max-lag-for. */
const LAG_POLL_MS = 1000;

/**
 * `waymark status`: every gateway of an environment with its lease, applied revision, lag and
 * health, and alarms as exit codes (cli/alarms.ts): 4 invalid records, 5 lagging, 6 stale, 7 down.
 */
export function registerStatus(program: Command): void {
  withConnection(
    program
      .command('status')
      .description('show each gateway of an environment: lease TTL, applied revision, lag and health; exits 4 (invalid records), 5 (lagging), 6 (stale) or 7 (down) on an alarm, the most severe one winning')
      .option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)')
      .option('-o, --output <format>', 'table, json or yaml (json and yaml add the alarms)', 'table')
      .option('--max-lag <revisions>', 'revisions a gateway may lag behind without an alarm', count, STATUS_ALARM_DEFAULTS.maxLag)
      .option('--max-lag-for <duration>', 'how long a gateway may stay behind (e.g. 30s, 2m): status waits up to this long for it to catch up before it alarms', duration, STATUS_ALARM_DEFAULTS.maxLagForMs),
  ).action(
    handled(async (flags: StatusFlags) => {
      const format = outputFormat(flags.output);
      const client = clientFrom(flags);
      const env = environmentFrom(flags.environment);
      const { status, alarms } = await readWithAlarms(client, env, flags.maxLag, flags.maxLagFor);
      process.exitCode = alarmExitCode(alarms);
      if (format !== 'table') {
        process.stdout.write(formatData({ ...status, alarms }, format));
        return;
      }
      const c = palette(process.stdout);
      const health = (h: string) => ({ text: h, paint: h === 'healthy' ? c.green : h === 'unknown' ? c.dim : h === 'down' ? c.red : c.yellow });
      process.stdout.write(`environment ${escapeControls(status.environment)}: revision ${status.revision}, ${status.gateways.length} gateway(s)\n`);
      const invalid = invalidRecords(status);
      if (invalid.length > 0) {
        process.stdout.write(c.yellow(`${invalid.length} invalid record${invalid.length === 1 ? '' : 's'} skipped (each keeps its last valid version, if any):\n`));
        for (const r of invalid) process.stdout.write(`  ${escapeControls(r.key)} (${escapeControls(r.reason)})\n`);
      }
      for (const a of alarms) process.stdout.write(`${c.red('alarm')}: ${escapeControls(a.message)}\n`);
      if (status.gateways.length === 0) return;
      process.stdout.write(
        formatTable(
          ['REGION', 'GATEWAY', 'URL', 'STATUS', 'HEALTH', 'APPLIED', 'LAG', 'LEASE TTL'],
          status.gateways.map((g) => [
            g.region,
            g.id,
            g.url,
            g.status,
            health(g.health),
            g.appliedRevision !== undefined ? String(g.appliedRevision) : '-',
            String(g.lag),
            g.leaseTtlSeconds > 0 ? `${g.leaseTtlSeconds}s` : g.leaseTtlSeconds === 0 ? '<1s' : 'gone',
          ]),
        ),
      );
    }),
  );
}

/** The keys skipped by the registry and by any gateway, each once. */
function invalidRecords(status: EnvironmentStatus): InvalidRecord[] {
  const byKey = new Map<string, InvalidRecord>();
  for (const r of [...(status.invalidRecords ?? []), ...status.gateways.flatMap((g) => g.invalidRecords ?? [])]) {
    if (!byKey.has(r.key)) byKey.set(r.key, r);
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}


/**
 * Reads the status and its alarms. With `maxLagForMs`, gateways lagging beyond `maxLag` get that
 * long to reach the revision they lagged at (read again every second): only those still behind alarm.
 */
async function readWithAlarms(client: AdminClient, env: string, maxLag: number, maxLagForMs: number): Promise<{ status: EnvironmentStatus; alarms: Alarm[] }> {
  let status = await client.status(env);
  if (maxLagForMs <= 0) return { status, alarms: statusAlarms(status, maxLag) };
  const behind = laggards(status, maxLag);
  const deadline = Date.now() + maxLagForMs;
  const caughtUp = () => status.gateways.every((g) => (g.appliedRevision ?? 0) >= (behind.get(`${g.region}/${g.id}`) ?? 0));
  while (behind.size > 0 && !caughtUp() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(LAG_POLL_MS, Math.max(0, deadline - Date.now()))));
    status = await client.status(env);
  }
  return { status, alarms: statusAlarms(status, maxLag, behind) };
}

function count(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number of revisions (0 or more)');
  return n;
}

/** `30s`, `2m`, `500ms`, `1h`, or a number of seconds, in ms. */
function duration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a duration such as 30s, 2m, 500ms or 1h');
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}
