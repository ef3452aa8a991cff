import { InvalidArgumentError, type Command } from 'commander';
import { Agent, AgentOptionsError, AGENT_DEFAULTS } from '../../agent/index.js';
import { InvalidOptionsError, WaymarkError, type WaymarkClientOptions } from '../../client-sdk/index.js';
import { parseListen } from './gateway.js';

interface AgentCliOptions {
  bootstrap: string[];
  region?: string;
  environment?: string;
  cacheFile?: string;
  listen: { host: string; port: number };
  quiet?: boolean;
}

/** `waymark agent …`: a local forward proxy that routes any app's calls with the SDK, until SIGTERM or SIGINT. */
export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('run a local forward proxy for apps in any language: HTTP_PROXY=http://127.0.0.1:15001 (http://<service>/path) or base URL http://127.0.0.1:15001/<service>/path')
    .requiredOption('--bootstrap <urls>', 'gateway base URLs to fetch the first topology from, comma-separated', parseList)
    .option('--region <region>', 'region this host runs in (default: the region with the lowest measured RTT)')
    .option('--environment <env>', 'expected environment (default: the first document’s)')
    .option('--cache-file <file>', 'keep the last good topology here, to start from it when no gateway answers')
    .option('--listen <host:port>', 'address to listen on', parseListen, { host: AGENT_DEFAULTS.host, port: AGENT_DEFAULTS.port })
    .option('--quiet', 'do not print a line per call')
    .action(async (opts: AgentCliOptions) => {
      await runAgent(opts);
    });
}

async function runAgent(opts: AgentCliOptions): Promise<void> {
  const client: WaymarkClientOptions = {
    bootstrap: opts.bootstrap,
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.environment ? { environment: opts.environment } : {}),
    ...(opts.cacheFile ? { cacheFile: opts.cacheFile } : {}),
  };
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  let agent: Agent;
  try {
    agent = new Agent({ client, host: opts.listen.host, port: opts.listen.port });
  } catch (err) {
    if (err instanceof AgentOptionsError || err instanceof InvalidOptionsError) {
      log(`error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  agent.client.on('topology', (doc) => log(`topology ${doc.environment} revision ${doc.revision}`));
  agent.client.on('stale', (e) => log(`stale (${e.reason}) at revision ${e.revision}`));
  agent.on('failover', (e) => log(`failover ${e.service} ${e.method}: ${e.from.id} (${e.error}) -> ${e.to.id}`));
  if (!opts.quiet) {
    agent.on('call', (c) => log(`${c.method} ${c.service ?? '-'} ${c.path} ${c.status} ${c.gateway ?? c.error ?? '-'} ${c.durationMs.toFixed(1)}ms`));
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal}: stopping`);
    agent.close().then(
      () => process.exit(0),
      (err: Error) => {
        log(`error: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    const url = await agent.listen();
    log(`listening on ${url}: HTTP_PROXY=${url} (http://<service>/path) or ${url}/<service>/path`);
    await agent.ready();
  } catch (err) {
    log(`error: ${(err as Error).message}${err instanceof WaymarkError ? ` (${err.code})` : ''}; calls wait for a gateway to answer`);
  }
}

function parseList(value: string): string[] {
  const list = value.split(',').map((u) => u.trim()).filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError('give at least one gateway base URL, such as http://127.0.0.1:8090');
  return list;
}
