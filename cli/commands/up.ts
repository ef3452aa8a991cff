import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { WaymarkError } from '../../topology/index.js';
import { formatGuide } from '../../stack/guide.js';
import { STACK_DEFAULTS, type StackOptions } from '../../stack/options.js';
import { startStack } from '../../stack/stack.js';
import { EXIT, reportError } from '../output.js';

/** How often `waymark up` checks that the process that started it is still there. */
const PARENT_CHECK_MS = 500;

interface UpFlags {
  regions?: string[];
  manifest: string;
  basePort: number;
  etcd?: string[];
  stateDir: string;
  environments: string[];
  leaseTtl: number;
  restart: boolean;
}

/** `waymark up`: the local multi-region stack in one process tree (what `npm start` runs). */
export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run a local multi-region stack: etcd, registry, demo backends and gateways, with the example manifests applied')
    .option('--regions <names>', 'regions that get gateways, comma-separated (default: all in the manifests)', list)
    .option('--manifest <dir>', 'folder of Region and Service manifests', STACK_DEFAULTS.manifest)
    .option('--base-port <port>', 'first port: registry N, etcd N+1/N+2, gateways from N+10, backends from N+100; 0 = any free ports', port, STACK_DEFAULTS.basePort)
    .option('--etcd <urls>', 'use this etcd instead of starting one (env WAYMARK_ETCD)', list)
    .option('--environments <names>', 'environments to create', list, [...STACK_DEFAULTS.environments])
    .option('--state-dir <dir>', 'folder for etcd data, tokens, logs and stack.json', STACK_DEFAULTS.stateDir)
    .option('--lease-ttl <seconds>', 'lease TTL of the gateways', port, STACK_DEFAULTS.leaseTtlSeconds)
    .option('--restart', 'start a gateway that exits again, with backoff (1 s doubling up to 30 s); by default it is reported and stays down', STACK_DEFAULTS.restart)
    .action(async (flags: UpFlags) => {
      const parent = process.ppid;
      const etcd = flags.etcd ?? (process.env.WAYMARK_ETCD ? process.env.WAYMARK_ETCD.split(',') : undefined);
      const options: StackOptions = {
        manifest: flags.manifest,
        basePort: flags.basePort,
        stateDir: flags.stateDir,
        environments: flags.environments,
        leaseTtlSeconds: flags.leaseTtl,
        restart: flags.restart,
        ...(flags.regions ? { regions: flags.regions } : {}),
        ...(etcd ? { etcd } : {}),
      };
      let stack;
      try {
        stack = await startStack(options, (line) => process.stdout.write(`${line}\n`));
      } catch (err) {
        process.exit(err instanceof WaymarkError ? reportError(err) : (process.stderr.write(`waymark up: ${(err as Error).message}\n`), EXIT.unreachable));
      }
      const token = readFileSync(stack.description.registry.tokenFile, 'utf8').trim();
      process.stdout.write(formatGuide(stack.description, token));
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stdout.write(`\n${signal}: stopping gateways (revoking leases), registry, backends and etcd...\n`);
        await stack.close();
        process.stdout.write('stopped.\n');
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGHUP', () => void stop('SIGHUP'));
      // A signal may reach only what started us (npm, a shell, a service manager) and end it:
      // once reparented, stop as if signalled instead of running on orphaned.
      setInterval(() => {
        if (process.ppid !== parent) void stop(`parent process ${parent} exited`);
      }, PARENT_CHECK_MS).unref();
    });
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a whole number from 0 to 65535');
  return n;
}
