import type { TopologyDocument } from '../../openapi/index.js';

/** What one poll of a gateway's /.well-known/topology returned. */
export interface DocumentSample {
  at: number;
  revision: number;
  stale: boolean;
  staleSince: string | null;
}

/** Polls gateways' topology documents in the background, checking that revisions never go back. */
export interface DocumentWatch {
  /** Samples per gateway URL. */
  readonly samples: ReadonlyMap<string, readonly DocumentSample[]>;
  /** Every time a gateway served a lower revision than it had served before. */
  readonly regressions: readonly string[];
  /** Polls that got no 200 (connection refused while a gateway is down, etc.). */
  readonly errors: number;
  /** Last sample of a gateway. */
  last(url: string): DocumentSample | undefined;
  stop(): Promise<void>;
}

export interface DocumentWatchOptions {
  /** Poll interval per gateway, ms. Default 50. */
  intervalMs?: number;
  /** Bound on the whole watch, ms. Default 120 000. */
  maxDurationMs?: number;
}

export const DOCUMENT_WATCH_DEFAULTS = { intervalMs: 50, maxDurationMs: 120_000 } as const;

export function watchDocuments(urls: readonly string[], options: DocumentWatchOptions = {}): DocumentWatch {
  const intervalMs = options.intervalMs ?? DOCUMENT_WATCH_DEFAULTS.intervalMs;
  const deadline = Date.now() + (options.maxDurationMs ?? DOCUMENT_WATCH_DEFAULTS.maxDurationMs);
  const samples = new Map<string, DocumentSample[]>(urls.map((u) => [u, []]));
  const regressions: string[] = [];
  let errors = 0;
  let stopped = false;
  const poll = async (url: string) => {
    while (!stopped && Date.now() < deadline) {
      try {
        const res = await fetch(`${url}/.well-known/topology`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) {
          const doc = (await res.json()) as TopologyDocument;
          const list = samples.get(url)!;
          const prev = list[list.length - 1];
          if (prev && doc.revision < prev.revision) regressions.push(`${url}: ${prev.revision} then ${doc.revision}`);
          list.push({ at: Date.now(), revision: doc.revision, stale: doc.stale, staleSince: res.headers.get('x-waymark-stale-since') });
        } else {
          await res.arrayBuffer();
          errors++;
        }
      } catch {
        errors++;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };
  const running = Promise.all(urls.map(poll));
  return {
    samples,
    regressions,
    get errors() {
      return errors;
    },
    last: (url) => samples.get(url)?.at(-1),
    async stop() {
      stopped = true;
      await running;
    },
  };
}
