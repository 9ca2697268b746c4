// Parsing the weights and building the fp32 graph, in a worker thread of its own that ends when the graph is
// built. Why a thread: the parse and the build leave hundreds of MB of garbage (the file's bytes, the parameters
// and the encoded graph, about 127 MiB each by their sizes, and protobufjs's objects). On the main thread V8 collects it while onnxruntime creates its session and
// runs the first forward on the same 2 cores; a finished worker's heap is dropped whole, with no collection.
// Measured (scratch script, fresh cache each time, 3 runs each: build, session from the cache file, one forward
// of an SD clip): 3.6-4.0 s in a worker against 4.4-5.8 s on the main thread; the forward alone 1.97-2.26 s
// against 2.54-3.05 s, and system time 1.5-1.7 s against 2.7-3.7 s.
import { Worker } from 'node:worker_threads';
import { StnetError } from '../errors.js';
import type { GraphCacheInfo } from '../graph/cache.js';
import { workerModuleUrl } from '../worker-module.js';
import type { BuildInit, FromBuildWorker } from './build-messages.js';

/** What the build worker made: the graph written to the cache file, or its bytes (no cache, or the write failed). */
export type BuiltGraph = { readonly written: true } | { readonly written: false; readonly bytes: Uint8Array };

/**
 * Parses `weights` and builds its fp32 graph in a worker thread; with `cache`, writes it there (best effort, as
 * writeGraphCache). Errors are the parse's own StnetErrors; an aborted `signal` stops the worker (E_CANCELLED).
 */
export async function buildGraphInWorker(weights: string, cache?: { path: string; info: GraphCacheInfo }, signal?: AbortSignal): Promise<BuiltGraph> {
  if (signal?.aborted) throw cancelled(weights, signal);
  const init: BuildInit = { weights, ...(cache !== undefined ? { cache } : {}) };
  const worker = new Worker(workerModuleUrl('./build-worker.js', import.meta.url), { execArgv: [], workerData: init });
  let onAbort: (() => void) | undefined;
  try {
    const msg = await new Promise<FromBuildWorker>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', (err) => reject(new StnetError('E_RUNTIME', `the graph-build thread failed: ${err.message}`, { cause: err })));
      worker.once('exit', (code) => reject(new StnetError('E_RUNTIME', `the graph-build thread exited with code ${code} before it finished (out of memory?)`)));
      if (signal !== undefined) {
        onAbort = () => reject(cancelled(weights, signal));
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    if (msg.type === 'written') return { written: true };
    if (msg.type === 'bytes') return { written: false, bytes: msg.bytes };
    throw new StnetError(msg.code, msg.message, msg.path !== undefined ? { path: msg.path } : {});
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    worker.removeAllListeners();
    await worker.terminate();
  }
}

function cancelled(weights: string, signal: AbortSignal): StnetError {
  return new StnetError('E_CANCELLED', `loading the weights ${weights} was cancelled`, { cause: signal.reason });
}
