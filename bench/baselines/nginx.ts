import { ensureNginx, nginxConfig, startNginx, type RunningNginx } from '../../test/support/nginx.js';

export { ensureNginx };

/** Options of the nginx baseline. Every default is in NGINX_DEFAULTS. */
export interface NginxOptions {
  /** `host:port` of the backend nginx proxies to. */
  backend: string;
  /** Idle keep-alive connections nginx keeps to the backend. Default 64. */
  upstreamKeepalive?: number;
  /** Time to wait for nginx to answer after it starts, ms. Default 10000. */
  startTimeoutMs?: number;
  /**
   * Log every request (the `combined` access log, buffered 64 KiB or 1 s, to a file), as nginx
   * does by default and as the gateway does with its request log on. Default true.
   */
  accessLog?: boolean;
  /** `worker_processes`. Default 1. */
  workers?: number;
}

export const NGINX_DEFAULTS = { upstreamKeepalive: 64, startTimeoutMs: 10_000, accessLog: true, workers: 1 } as const;

/** `workers` workers (one by default), keep-alive to the backend, the access log buffered. */
function config(dir: string, port: number, options: NginxOptions): string {
  const keepalive = options.upstreamKeepalive ?? NGINX_DEFAULTS.upstreamKeepalive;
  return nginxConfig(
    dir,
    `  keepalive_timeout 65;
  # The gateway does not close a busy keep-alive connection after N requests; neither does this.
  keepalive_requests 1000000;
  upstream backend {
    server ${options.backend};
    keepalive ${keepalive};
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    ${(options.accessLog ?? NGINX_DEFAULTS.accessLog) ? `access_log ${dir}/access.log combined buffer=64k flush=1s;` : 'access_log off;'}
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`,
    undefined,
    options.workers ?? NGINX_DEFAULTS.workers,
  );
}

/** Starts the baseline: nginx with `workers` workers (one by default) proxying to the backend over keep-alive connections. */
export function startNginxBaseline(binary: string, version: string, options: NginxOptions): Promise<RunningNginx> {
  return startNginx(binary, version, {
    config: (dir, port) => config(dir, port, options),
    startTimeoutMs: options.startTimeoutMs ?? NGINX_DEFAULTS.startTimeoutMs,
  });
}
