// The onnxruntime worker thread: one InferenceSession, runs one at a time (src/graph/session.ts explains why
// inference runs off the main thread). Started by ModelSession with `new Worker(new URL('./ort-worker.js', ...))`;
// it imports nothing of stnet but the message types, so the same file serves dist/ and the test runner.
// ORT_DISABLE_TELEMETRY is in the process environment before this thread starts (src/env.ts; session.ts sets it).
import { parentPort, workerData } from 'node:worker_threads';
import ort, { type InferenceSession } from 'onnxruntime-node';
import type { FromWorker, ToWorker, WorkerInit } from './ort-messages.js';

const port = parentPort;
if (port === null) throw new Error('ort-worker.js runs as a worker thread of src/graph/session.ts');
const init = workerData as WorkerInit;
// The environment's own log (e.g. "Failed to load library ..." when CUDA is asked for and absent) would go
// straight to stderr; every failure still reaches the main thread as an error message.
ort.env.logLevel = 'fatal';

const post = (msg: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

let session: InferenceSession | undefined;
let shared: SharedArrayBuffer | undefined;
/** This thread's own input buffer, reused: onnxruntime-node refuses SharedArrayBuffer-backed arrays. */
let local = new Float32Array(0);

async function run(msg: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  try {
    if (session === undefined) throw new Error('no session');
    let data: Float32Array;
    if ('data' in msg) {
      data = msg.data;
    } else {
      if (msg.buffer !== undefined) shared = msg.buffer;
      if (shared === undefined) throw new Error('no input buffer');
      if (local.length < msg.length) local = new Float32Array(msg.length);
      data = local.subarray(0, msg.length);
      data.set(new Float32Array(shared, 0, msg.length));
    }
    const res = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', data, msg.dims) });
    const outputs: Record<string, Float32Array> = {};
    for (const name of session.outputNames) outputs[name] = res[name]!.data as Float32Array;
    const handed = 'data' in msg && msg.data.buffer instanceof ArrayBuffer ? msg.data.buffer : undefined;
    post({ type: 'result', id: msg.id, outputs, ...(handed !== undefined ? { input: handed } : {}) }, handed !== undefined ? [handed] : []);
  } catch (err) {
    post({ type: 'result', id: msg.id, error: message(err) });
  }
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'run') {
    void run(msg);
  } else {
    void (async () => {
      try {
        await session?.release();
      } finally {
        post({ type: 'closed' });
      }
    })();
  }
});

(typeof init.model === 'string' ? ort.InferenceSession.create(init.model, init.options) : ort.InferenceSession.create(init.model, init.options)).then(
  (s) => {
    session = s;
    // onnxruntime copied the weights out of the bytes: give the buffer back (see FromWorker 'ready').
    const buf = typeof init.model === 'string' ? undefined : init.model.buffer;
    const whole = buf instanceof ArrayBuffer && typeof init.model !== 'string' && init.model.byteOffset === 0 && init.model.byteLength === buf.byteLength;
    post({ type: 'ready', inputNames: s.inputNames, outputNames: s.outputNames, ...(whole ? { model: buf } : {}) }, whole ? [buf] : []);
  },
  (err: unknown) => post({ type: 'failed', error: message(err) }),
);
