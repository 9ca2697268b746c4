// The graph-build worker thread: parses a weights file, builds the fp32 graph and writes it to the graph cache
// (src/model/build.ts says why this runs in a thread of its own). Started by buildGraphInWorker.
import { parentPort, workerData } from 'node:worker_threads';
import { StnetError } from '../errors.js';
import { writeGraphCache } from '../graph/cache.js';
import { buildStnetOnnx } from '../graph/stnet.js';
import { loadWeights } from '../weights/index.js';
import type { BuildInit, FromBuildWorker } from './build-messages.js';

const port = parentPort;
if (port === null) throw new Error('build-worker.js runs as a worker thread of src/model/build.ts');
const init = workerData as BuildInit;
const post = (msg: FromBuildWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

try {
  const bytes = buildStnetOnnx(await loadWeights(init.weights));
  if (init.cache !== undefined && (await writeGraphCache(init.cache.path, bytes, init.cache.info))) {
    post({ type: 'written' });
  } else {
    // protobufjs may encode into part of a larger buffer: only a whole buffer can be moved.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
    const own = whole ? bytes : new Uint8Array(bytes);
    post({ type: 'bytes', bytes: own }, [own.buffer as ArrayBuffer]);
  }
} catch (err) {
  if (err instanceof StnetError) post({ type: 'failed', code: err.code, message: err.message, ...(err.path !== undefined ? { path: err.path } : {}) });
  else post({ type: 'failed', code: 'E_RUNTIME', message: `building the graph failed: ${err instanceof Error ? err.message : String(err)}` });
}
