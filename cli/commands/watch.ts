import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { EnvironmentView, TopologyChange } from '../../openapi/index.js';
import { AdminApiError } from '../admin-client.js';
import { serverSentEvents } from '../event-stream.js';
import { handled, palette, UsageError } from '../output.js';
import { clientFrom, environmentFrom, withConnection, type ConnectionFlags } from './connection.js';

interface WatchFlags extends ConnectionFlags {
  environment?: string;
  output?: string;
}

/**
 * Waits between reconnects: the first after `initialMs`, each next one `multiplier` times longer
 * up to `maxMs`, each spread by ±`jitter` so many watchers do not reconnect in step (gRPC's
 * connection backoff, shorter for a terminal). Back to `initialMs` once connected.
 */
export const WATCH_RECONNECT = { initialMs: 500, multiplier: 1.6, maxMs: 10_000, jitter: 0.2 } as const;

/**
 * `waymark watch`: follows the registry's event stream of an environment and prints each change
 * as a line (revision, time, what, who). When the stream drops (registry restarting, down, or its
 * etcd down), reconnects with backoff for as long as it runs, asking for the changes after the
 * last one printed. Fails at once only if the first connection fails or the registry refuses it
 * (token, environment). Stops on SIGINT/SIGTERM.
 */
export function registerWatch(program: Command): void {
  withConnection(
    program
      .command('watch')
      .description('print changes of an environment as they happen: regions, services, gateways joining and leaving, applies (who, what, revision)')
      .option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)')
      .option('-o, --output <format>', 'text (one readable line per change) or json (one TopologyChange per line)', 'text'),
  ).action(
    handled(async (flags: WatchFlags) => {
      const format = flags.output ?? 'text';
      if (format !== 'text' && format !== 'json') throw new UsageError(`-o ${format}: use text or json`);
      const env = environmentFrom(flags.environment);
      const client = clientFrom(flags);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const c = palette(process.stdout);
      let since: number | undefined;
      let connected = false;
      let everConnected = false;
      let delay: number = WATCH_RECONNECT.initialMs;
      while (!stop.signal.aborted) {
        try {
          const body = await client.events(env, { ...(since !== undefined ? { since } : {}), signal: stop.signal });
          for await (const ev of serverSentEvents(body)) {
            if (ev.event === 'view' && !connected) {
              connected = true;
              everConnected = true;
              delay = WATCH_RECONNECT.initialMs;
              const view = JSON.parse(ev.data) as EnvironmentView;
              const gateways = view.regions.flatMap((r) => r.gateways);
              const down = gateways.filter((g) => g.state === 'down').length;
              // On stderr, so `-o json` output stays pure JSON lines.
              process.stderr.write(
                `watching ${env} at revision ${view.revision}: ${view.regions.length} region(s), ${view.services.length} service(s), ${gateways.length - down} gateway(s) up${down ? `, ${down} recently down` : ''}\n`,
              );
            } else if (ev.event === 'change') {
              const change = JSON.parse(ev.data) as TopologyChange;
              since = change.revision;
              process.stdout.write(format === 'json' ? `${JSON.stringify(change)}\n` : `${formatChange(change, c)}\n`);
            }
          }
        } catch (err) {
          if (stop.signal.aborted) break;
          // Refusals (bad token, unknown environment) will not get better by retrying; a 503
          // (the registry lost etcd) will. A first connection that fails is most likely a wrong URL.
          if ((err instanceof AdminApiError && err.status !== 503) || !everConnected) throw err;
        }
        if (stop.signal.aborted) break;
        const wait = Math.round(delay * (1 + WATCH_RECONNECT.jitter * (Math.random() * 2 - 1)));
        process.stderr.write(
          connected ? `the event stream of ${env} dropped; reconnecting in ${(wait / 1000).toFixed(1)}s\n` : `the registry is unreachable; retrying in ${(wait / 1000).toFixed(1)}s\n`,
        );
        connected = false;
        // Resolves early (rejecting, ignored) when interrupted.
        await sleep(wait, undefined, { signal: stop.signal }).catch(() => undefined);
        delay = Math.min(delay * WATCH_RECONNECT.multiplier, WATCH_RECONNECT.maxMs);
      }
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }),
  );
}

type Palette = ReturnType<typeof palette>;

/** `rev 42  12:03:04  service hr updated: deployments changed`. */
export function formatChange(change: TopologyChange, c: Palette): string {
  const time = change.at.slice(11, 19);
  const paint = change.action === 'added' ? c.green : change.action === 'removed' ? c.red : change.action === 'committed' ? c.bold : c.yellow;
  const what = change.kind === 'commit' ? `${change.detail ?? change.name}${change.by ? ` by ${change.by}` : ''}` : `${change.kind} ${change.name} ${change.action}${change.detail ? `: ${change.detail}` : ''}`;
  return `${c.dim(`rev ${change.revision}`)}  ${c.dim(time)}  ${paint(what)}`;
}
