import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One call of a non-Node client: its status (0 when it failed without one) and the gateway that answered. */
export interface ForeignCall {
  status: number;
  gateway: string;
  error?: string;
}

export interface ForeignLoop {
  /** Calls completed so far. */
  calls(): readonly ForeignCall[];
  /** Ends the loop after its current call; resolves with every call. */
  stop(): Promise<ForeignCall[]>;
}

/** What a loop calls through the agent: each URL in turn, either through HTTP_PROXY or directly. */
export interface ForeignLoopOptions {
  /** The agent's base URL. */
  agent: string;
  /** Absolute-form URLs (`http://catalog/items/1`, sent through the agent as a proxy) and base-URL ones (`<agent>/catalog/items/1`). */
  proxied: readonly string[];
  direct: readonly string[];
}

// No proxy variables of the test's own environment may change what the client does.
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(https?|no|all)_proxy$/i.test(k)) delete env[k];
  return env;
}

function loop(command: string, args: string[], stopFile: string, dir: string): ForeignLoop {
  const calls: ForeignCall[] = [];
  let pending = '';
  let stderr = '';
  const child = spawn(command, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const [status, gateway, ...error] = line.split(' ');
      calls.push({ status: Number(status), gateway: gateway ?? '', ...(error.length ? { error: error.join(' ') } : {}) });
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    calls: () => calls,
    async stop() {
      writeFileSync(stopFile, '');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref())]);
      if (code === 'timeout') child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`${command} loop exited with ${String(code)}: ${stderr}`);
      return calls;
    },
  };
}

/** curl in a shell loop; prints `<status> <X-Waymark-Gateway>` per call (status 000 when curl got none). */
export function curlLoop(options: ForeignLoopOptions): ForeignLoop {
  const dir = mkdtempSync(join(tmpdir(), 'waymark-curl-'));
  const stop = join(dir, 'stop');
  const each = (url: string, proxy: boolean) =>
    `curl -s -o /dev/null --max-time 15 ${proxy ? `-x ${options.agent} ` : ''}-w '%{http_code} %header{x-waymark-gateway}\\n' '${url}' || true`;
  const body = [...options.proxied.map((u) => each(u, true)), ...options.direct.map((u) => each(u, false))].join('; ');
  return loop('bash', ['-c', `while [ ! -e '${stop}' ]; do ${body}; done`], stop, dir);
}

/** Python's urllib (Debian's python3), with a ProxyHandler for the proxied URLs; same output as curlLoop. */
export function pythonLoop(options: ForeignLoopOptions): ForeignLoop {
  const dir = mkdtempSync(join(tmpdir(), 'waymark-py-'));
  const stop = join(dir, 'stop');
  const script = `
import json, os, sys, urllib.error, urllib.request
proxied = urllib.request.build_opener(urllib.request.ProxyHandler({"http": ${JSON.stringify(options.agent)}}))
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
targets = [(proxied, u) for u in ${JSON.stringify(options.proxied)}] + [(direct, u) for u in ${JSON.stringify(options.direct)}]
while not os.path.exists(${JSON.stringify(stop)}):
    for opener, url in targets:
        try:
            with opener.open(url, timeout=15) as r:
                r.read()
                print(r.status, r.headers.get("X-Waymark-Gateway", "-"), flush=True)
        except urllib.error.HTTPError as e:
            print(e.code, e.headers.get("X-Waymark-Gateway", "-"), flush=True)
        except Exception as e:
            print(0, "-", repr(e).replace("\\n", " "), flush=True)
`;
  return loop('python3', ['-c', script], stop, dir);
}
