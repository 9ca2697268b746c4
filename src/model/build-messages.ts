// The messages between buildGraphInWorker (src/model/build.ts) and its worker thread (src/model/build-worker.ts),
// typed once for both sides.
import type { StnetErrorCode } from '../errors.js';
import type { GraphCacheInfo } from '../graph/cache.js';

/** The worker's workerData: the weights file to parse, and the graph-cache file to write the fp32 graph to. */
export interface BuildInit {
  readonly weights: string;
  readonly cache?: { readonly path: string; readonly info: GraphCacheInfo };
}

export type FromBuildWorker =
  /** The graph is in the cache file. */
  | { readonly type: 'written' }
  /** The graph's bytes (no cache asked for, or writing it failed), their buffer transferred. */
  | { readonly type: 'bytes'; readonly bytes: Uint8Array }
  /** Parsing or building failed: the StnetError's fields (a worker's error crosses threads without its class). */
  | { readonly type: 'failed'; readonly code: StnetErrorCode; readonly message: string; readonly path?: string };
