import type { EnvironmentStatus, GatewayStatus } from '../openapi/index.js';

/**
 * What `waymark status` alarms on, each with its exit code: the most severe alarm of a run is its
 * exit code (down 7 > stale 6 > lagging 5 > invalid records 4). Codes 1-3 keep their meaning for
 * every command (rejected, usage, unreachable).
 */
export const ALARM_EXIT = { invalid: 4, lagging: 5, stale: 6, down: 7 } as const;

export type AlarmKind = keyof typeof ALARM_EXIT;

export interface Alarm {
  kind: AlarmKind;
  /** The gateway it is about; none for invalid records of the environment itself. */
  gateway?: { id: string; region: string };
  message: string;
}

/** When `waymark status` alarms. Every default is in STATUS_ALARM_DEFAULTS. */
export interface StatusAlarmOptions {
  /** Revisions a gateway may lag behind the environment's revision without an alarm. Default 0. */
  maxLag?: number;
  /**
   * How long a gateway may stay behind before its lag is an alarm, ms: status then waits (up to
   * this long) for it to reach the revision it lagged at. Default 0: at once.
   */
  maxLagForMs?: number;
}

export const STATUS_ALARM_DEFAULTS = { maxLag: 0, maxLagForMs: 0 } as const;

const key = (g: Pick<GatewayStatus, 'id' | 'region'>) => `${g.region}/${g.id}`;

/** Gateways lagging beyond `maxLag`, with the revision each must reach: environment revision − maxLag. */
export function laggards(status: EnvironmentStatus, maxLag: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const g of status.gateways) {
    if (g.health === 'down' || g.health === 'stale') continue;
    if (g.lag > maxLag && g.appliedRevision !== undefined) out.set(key(g), g.appliedRevision + g.lag - maxLag);
  }
  return out;
}

/**
 * The alarms of one status read. `behind`: the gateways still behind the revision they had to
 * reach (from `laggards` of an earlier read, once `maxLagFor` has passed); without it, every
 * gateway lagging beyond `maxLag` now.
 */
export function statusAlarms(status: EnvironmentStatus, maxLag: number, behind?: ReadonlyMap<string, number>): Alarm[] {
  const alarms: Alarm[] = [];
  const lagging = behind ?? laggards(status, maxLag);
  for (const g of status.gateways) {
    const gateway = { id: g.id, region: g.region };
    const name = `gateway ${g.id} (${g.region})`;
    if (g.health === 'down') {
      alarms.push({ kind: 'down', gateway, message: `${name} is down: ${g.leaseTtlSeconds < 0 ? 'its lease has expired' : `nothing listens at ${g.url}`}` });
    } else if (g.health === 'stale') {
      alarms.push({ kind: 'stale', gateway, message: `${name} lost etcd and serves its last snapshot (revision ${g.appliedRevision ?? '?'})` });
    } else if (lagging.has(key(g)) && (g.appliedRevision ?? 0) < lagging.get(key(g))!) {
      alarms.push({ kind: 'lagging', gateway, message: `${name} lags ${g.lag} revision(s) behind (applied ${g.appliedRevision ?? '?'}, allowed lag ${maxLag})` });
    }
  }
  const invalid = (status.invalidRecords?.length ?? 0) + status.gateways.reduce((n, g) => n + (g.invalidRecordCount ?? 0), 0);
  if (invalid > 0) alarms.push({ kind: 'invalid', message: `invalid records are skipped (${invalid} seen by the registry and the gateways)` });
  return alarms;
}

/** The exit code of a run with these alarms: the most severe one's, 0 without any. */
export function alarmExitCode(alarms: readonly Alarm[]): number {
  return alarms.reduce((code, a) => Math.max(code, ALARM_EXIT[a.kind]), 0);
}
