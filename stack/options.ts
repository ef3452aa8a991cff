/** What `waymark up` runs. Every default is in STACK_DEFAULTS. */
export interface StackOptions {
  /** Folder of the manifests (regions and services, `${var}` upstreams). Default `examples/global-enterprise`. */
  manifest?: string;
  /** Environments to create, each with its own backends and gateways. Default `['dev', 'prod']`. */
  environments?: string[];
  /** Regions that get gateways; default every region of the manifests. */
  regions?: string[];
  /**
   * First port: registry `base`, etcd `base+1`/`base+2`, prod gateways from `base+10`, dev
   * gateways from `base+30`, backends from `base+100`. 0 picks free ports. Default 8080.
   */
  basePort?: number;
  /** Use this etcd instead of starting one (client URLs). */
  etcd?: string[];
  /** Folder for etcd data, tokens, logs, snapshots and `stack.json`. Default `.waymark`. */
  stateDir?: string;
  /** Lease TTL of the gateways, in seconds. Default 10. */
  leaseTtlSeconds?: number;
  /** Host every component listens on. Default 127.0.0.1. */
  host?: string;
  /**
   * Start a gateway that exits again, with backoff (1 s doubling up to 30 s), for long-running
   * use. Default false: its exit is reported and it stays down, so a demo can show failover.
   */
  restart?: boolean;
}

export const STACK_DEFAULTS = {
  manifest: 'examples/global-enterprise',
  environments: ['dev', 'prod'],
  basePort: 8080,
  stateDir: '.waymark',
  leaseTtlSeconds: 10,
  host: '127.0.0.1',
  restart: false,
} as const;
