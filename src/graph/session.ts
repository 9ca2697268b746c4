// The only file that runs onnxruntime-node (with its worker thread, ort-worker.ts): a session over a serialized ONNX model, run one call at a time.
//
// The session lives in a worker thread. onnxruntime-node's run() is synchronous underneath (the promise only
// defers it with setImmediate), so on the main thread a multi-second forward pass would freeze the event loop:
// no HTTP responses, no ffmpeg output read for the next video, no timers, no aborts. In a worker, the main
// thread stays free and only the input tensor is copied over (tens of ms for a 25x256x256 input, against
// seconds of inference).
import { existsSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { disableOrtTelemetry } from '../env.js';
import { StnetError } from '../errors.js';
import { partialPathFor } from '../weights/cache.js';
import { workerModuleUrl } from '../worker-module.js';
import { optimizedGraphPath, removeOptimizedGraph } from './cache.js';
import { GraphBuilder } from './onnx.js';
import type { FromWorker, ToWorker, WorkerInit } from './ort-messages.js';

export interface ModelSessionOptions {
  /** intra-op threads (onnxruntime's per-operator thread pool). */
  threads: number;
  /** Run on the CUDA execution provider instead of the CPU. */
  useGpu: boolean;
  /**
   * Hand the model's memory to the session's thread instead of copying it (saves a copy of the weights; the
   * caller's `model` array is detached afterwards). Default false.
   */
  transferModel?: boolean;
  /** onnxruntime graph optimization level; default 'all' (includes the NCHWc conv layout). For experiments. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write the graph as onnxruntime optimized it to this file (to check which kernels it fused, e.g. QLinearConv). */
  optimizedModelPath?: string;
}

export interface RunOptions {
  /**
   * The caller gives `data` away: its buffer is transferred to the session's thread (no copy) and is detached
   * (length 0) once the run starts. Only when `data` spans a whole plain ArrayBuffer; otherwise it is copied as usual.
   */
  handOver?: boolean;
}

/** Whether a transfer can move `data`'s memory: a whole, plain (not shared) ArrayBuffer. */
function transferable(data: Float32Array): boolean {
  const buf = data.buffer;
  return buf instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buf.byteLength;
}

let tag: string | undefined;
/**
 * What an optimized graph depends on besides the plain graph: onnxruntime's version (its saved form) and the CPU
 * (the NCHWc block size follows the vector width). Not the thread counts: the optimized graph does not depend on them.
 */
function optimizedTag(): string {
  if (tag === undefined) {
    const version = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
    tag = JSON.stringify({ ort: version, arch: process.arch, cpu: cpus()[0]?.model ?? '', level: 'all' });
  }
  return tag;
}

/** All outputs of one run, by graph output name. */
export type ModelOutputs = Readonly<Record<string, Float32Array>>;

/** The one "model was closed" error (StNet and ModelSession both throw it). */
export function closedError(): StnetError {
  return new StnetError('E_MODEL_CLOSED', 'The model was closed: load a new one with StNet.load()');
}

function gpuUnavailable(detail: string, cause?: unknown): StnetError {
  return new StnetError(
    'E_GPU_UNAVAILABLE',
    `GPU inference was asked for (useGpu / --use_gpu) but ${detail}. Install onnxruntime-node with CUDA ` +
      '(npm install onnxruntime-node --onnxruntime-node-install=cuda12 on a machine with CUDA 12 and cuDNN 9), or drop useGpu.',
    cause === undefined ? {} : { cause },
  );
}

let cudaProbe: Promise<string | undefined> | undefined;

/**
 * Whether onnxruntime can start its CUDA provider here: resolves undefined when it can, else onnxruntime's reason.
 * Asked by creating a session for a one-node model on the CUDA provider alone (onnxruntime's default install has
 * no CUDA provider library, and `listSupportedBackends()` lists CUDA either way); about 0.1-0.3 s, once per process.
 */
export function cudaUnavailableReason(): Promise<string | undefined> {
  cudaProbe ??= (async () => {
    const g = new GraphBuilder();
    const x = g.fresh('x');
    const y = g.op('Identity', [x], {}, 'y');
    const model = g.encode({ graphName: 'cuda_probe', inputs: [{ name: x, dims: [1] }], outputs: [{ name: y, dims: [1] }], producerVersion: '0' });
    const first = await startWorker(model, { executionProviders: ['cuda'], logSeverityLevel: 4 }, false);
    await first.worker.terminate();
    return first.msg.type === 'ready' ? undefined : first.msg.type === 'failed' ? first.msg.error : `unexpected message ${first.msg.type}`;
  })();
  return cudaProbe;
}

/** Whether onnxruntime has a working CUDA provider here (see cudaUnavailableReason). */
export async function cudaAvailable(): Promise<boolean> {
  return (await cudaUnavailableReason()) === undefined;
}

/** Throws E_GPU_UNAVAILABLE unless onnxruntime can start its CUDA provider. */
export async function assertGpuAvailable(): Promise<void> {
  const reason = await cudaUnavailableReason();
  if (reason !== undefined) throw gpuUnavailable(`this onnxruntime-node has no CUDA provider (onnxruntime: ${reason.split('\n')[0]})`, new Error(reason));
}

/** Starts a worker on `model` and waits for its first message ('ready' or 'failed'). */
async function startWorker(model: Uint8Array | string, options: InferenceSession.SessionOptions, transfer: boolean): Promise<{ worker: Worker; msg: FromWorker }> {
  // Before the native module loads in the worker: onnxruntime's telemetry stays off (src/env.ts).
  disableOrtTelemetry();
  const init: WorkerInit = { model, options };
  const worker = new Worker(workerModuleUrl('./ort-worker.js', import.meta.url), {
    // Host flags (a loader, --input-type) are not the worker's business.
    execArgv: [],
    workerData: init,
    transferList: transfer && typeof model !== 'string' ? [model.buffer as ArrayBuffer] : [],
  });
  let onMessage: (m: FromWorker) => void = () => undefined;
  let onError: (e: Error) => void = () => undefined;
  let onExit: (code: number) => void = () => undefined;
  const msg = await new Promise<FromWorker>((resolve, reject) => {
    onMessage = resolve;
    onError = reject;
    onExit = (code) => reject(new Error(`the onnxruntime worker thread exited with code ${code} while loading the model`));
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  }).catch((err: unknown): FromWorker => ({ type: 'failed', error: (err as Error).message }));
  worker.off('message', onMessage).off('error', onError).off('exit', onExit);
  return { worker, msg };
}

/**
 * A session on onnxruntime's optimized copy of a cached graph (saved by an earlier session), at level disabled:
 * the optimization is in the file. undefined when onnxruntime refuses the copy (it is removed then).
 */
async function startPreOptimized(optimized: string, options: InferenceSession.SessionOptions): Promise<{ worker: Worker; outputNames: readonly string[] } | undefined> {
  const pre = await startWorker(optimized, { ...options, graphOptimizationLevel: 'disabled' }, false);
  if (pre.msg.type === 'ready') return { worker: pre.worker, outputNames: pre.msg.outputNames };
  await pre.worker.terminate();
  await removeOptimizedGraph(optimized);
  return undefined;
}

interface Pending {
  resolve: (o: ModelOutputs) => void;
  reject: (e: unknown) => void;
  dims: readonly number[];
}

export class ModelSession {
  private readonly worker: Worker;
  /** False once close() was called: new runs fail with E_MODEL_CLOSED, queued ones still run. */
  private accepting = true;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /**
   * Runs in call order, one at a time: onnxruntime already spreads one run over all intra-op threads, and the
   * input buffer below is reused, so the next input is only written once the previous run has finished.
   */
  private chain: Promise<unknown> = Promise.resolve();
  /**
   * Input buffer shared with the worker (grown to the largest input seen). Writing into it costs one memcpy;
   * posting the Float32Array itself would serialize a copy, measured 5-10x slower for a 98 MB input.
   */
  private shared: SharedArrayBuffer | undefined;
  /**
   * The buffer of the last handed-over input, given back by the worker after its run: the next video can be
   * decoded into it instead of a new one. Held weakly: taken within moments during a batch, and left to the
   * collector after the last one (an idle model keeps no 98 MB buffer).
   */
  private spare: WeakRef<ArrayBuffer> | undefined;
  /** Set when the worker died; every later call fails with it. */
  private dead: StnetError | undefined;
  private onClosed: (() => void) | undefined;
  private terminating = false;
  private closing: Promise<void> | undefined;

  private constructor(
    worker: Worker,
    readonly provider: 'cpu' | 'cuda',
    readonly threads: number,
    readonly outputNames: readonly string[],
  ) {
    this.worker = worker;
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      if (!this.terminating) this.fail(new Error(`the onnxruntime worker thread exited with code ${code}`));
    });
    // An idle model must not keep the process alive; a run in flight does.
    worker.unref();
  }

  /**
   * Starts a session on its own thread, on a serialized model in memory or in a file (a cached graph: onnxruntime
   * reads it itself, so its bytes never enter JavaScript memory).
   */
  static async create(model: Uint8Array | string, opts: ModelSessionOptions): Promise<ModelSession> {
    if (opts.useGpu) await assertGpuAvailable();
    const options: InferenceSession.SessionOptions = {
      executionProviders: opts.useGpu ? ['cuda', 'cpu'] : ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: opts.optimization ?? 'all',
      enableCpuMemArena: true,
      // Off: a memory pattern is planned per input shape and each plan keeps its own block in the arena, so a
      // server fed seg_num 7 and 25 at 256 px grew to 1359 MiB RSS; without it the arena stays at the largest
      // input's peak (1041 MiB). docs/server.md "Memory under mixed input shapes", bench/load.mjs --mixed 7,25.
      enableMemPattern: false,
      // Warnings from onnxruntime's native logger would go straight to stderr; failures still reach us as errors.
      logSeverityLevel: 3,
      ...(opts.optimizedModelPath !== undefined ? { optimizedModelFilePath: opts.optimizedModelPath } : {}),
    };
    const transfer = typeof model !== 'string' && opts.transferModel === true && model.byteOffset === 0 && model.byteLength === model.buffer.byteLength;
    // A cached graph on the CPU at the default level: start from onnxruntime's optimized copy of it, saved by the
    // first session (src/graph/cache.ts optimizedGraphPath says why). A copy onnxruntime refuses is removed and
    // the plain graph used (and the copy saved again).
    const optimized = typeof model === 'string' && !opts.useGpu && options.graphOptimizationLevel === 'all' ? optimizedGraphPath(model, optimizedTag()) : undefined;
    let saveTo: string | undefined;
    if (optimized !== undefined) {
      const pre = existsSync(optimized) ? await startPreOptimized(optimized, options) : undefined;
      if (pre !== undefined) return new ModelSession(pre.worker, 'cpu', opts.threads, pre.outputNames);
      saveTo = partialPathFor(optimized);
    }
    let { worker, msg } = await startWorker(model, saveTo === undefined ? options : { ...options, optimizedModelFilePath: saveTo }, transfer);
    if (saveTo !== undefined) {
      const tmp = saveTo;
      // Best effort, as the graph cache itself: a full disk must not fail a start.
      const saved = msg.type === 'ready' && (await rename(tmp, optimized!).then(() => true, () => false));
      if (!saved) await unlink(tmp).catch(() => undefined);
      if (saved && msg.type === 'ready') {
        // The session that optimized the graph is closed and the saved copy opened instead, as the next start
        // would: the optimizing session holds ~170 MB more (peak RSS through one SD run 883-900 MiB against
        // 722-723 MiB) and its first forward took 1.93-2.17 s against 1.31-1.65 s, for 120-143 ms spent
        // reopening (3 cold starts each, /tmp scratch script). If the copy is refused, the plain graph is opened again.
        // Closed as any session is (close() releases the native session at once, then ends the thread).
        await new ModelSession(worker, 'cpu', opts.threads, msg.outputNames).close();
        const pre = await startPreOptimized(optimized!, options);
        if (pre !== undefined) return new ModelSession(pre.worker, 'cpu', opts.threads, pre.outputNames);
        ({ worker, msg } = await startWorker(model, options, false));
      }
    }
    if (msg.type !== 'ready') {
      await worker.terminate();
      const detail = msg.type === 'failed' ? msg.error : `unexpected message ${msg.type}`;
      if (opts.useGpu) throw gpuUnavailable('onnxruntime could not start its CUDA provider', new Error(detail));
      throw new StnetError('E_RUNTIME', `onnxruntime could not create the session: ${detail}`, { cause: new Error(detail) });
    }
    return new ModelSession(worker, opts.useGpu ? 'cuda' : 'cpu', opts.threads, msg.outputNames);
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === 'closed') {
      this.onClosed?.();
      return;
    }
    if (msg.type !== 'result') return;
    const p = this.pending.get(msg.id);
    if (p === undefined) return;
    this.pending.delete(msg.id);
    if (this.pending.size === 0) this.worker.unref();
    if ('input' in msg && msg.input !== undefined) this.spare = new WeakRef(msg.input);
    if ('error' in msg) {
      p.reject(new StnetError('E_RUNTIME', `onnxruntime failed to run the model on input [${p.dims.join(', ')}]: ${msg.error}`, { cause: new Error(msg.error) }));
    } else {
      p.resolve(msg.outputs);
    }
  }

  private fail(err: unknown): void {
    if (this.dead !== undefined) return;
    this.dead = new StnetError('E_RUNTIME', `the onnxruntime session stopped: ${(err as Error).message ?? String(err)}; load the model again`, { cause: err });
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    this.onClosed?.();
  }

  /**
   * Runs the model on one float32 tensor and returns every output. Runs execute one after the other, in call
   * order; `data` is copied when its turn comes, so the caller may reuse it once the promise settles (unless
   * `opts.handOver` gave it away).
   */
  runAll(data: Float32Array, dims: readonly number[], opts: RunOptions = {}): Promise<ModelOutputs> {
    if (!this.accepting) return Promise.reject(closedError());
    const job = this.chain.then(() => this.send(data, [...dims], opts.handOver === true));
    this.chain = job.catch(() => undefined);
    return job;
  }

  private send(data: Float32Array, dims: readonly number[], handOver: boolean): Promise<ModelOutputs> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    if (handOver && transferable(data)) {
      // The caller's buffer moves to the worker: the input exists once instead of three times (caller, shared
      // buffer, the worker's own copy), 2 x 98 MB less peak RSS at seg 25, 256 (docs/model.md "Memory").
      const id = this.nextId++;
      try {
        // Throws (and moves nothing) for a buffer that cannot be detached, e.g. a WebAssembly memory's.
        this.worker.postMessage({ type: 'run', id, dims, data } satisfies ToWorker, [data.buffer as ArrayBuffer]);
      } catch {
        return this.send(data, dims, false);
      }
      return new Promise<ModelOutputs>((resolve, reject) => {
        this.pending.set(id, { resolve, reject, dims });
        this.worker.ref();
      });
    }
    let buffer: SharedArrayBuffer | undefined;
    if (this.shared === undefined || this.shared.byteLength < data.byteLength) {
      this.shared = buffer = new SharedArrayBuffer(data.byteLength);
    }
    new Float32Array(this.shared, 0, data.length).set(data);
    const id = this.nextId++;
    return new Promise<ModelOutputs>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, dims });
      this.worker.ref();
      this.post({ type: 'run', id, dims, length: data.length, ...(buffer !== undefined ? { buffer } : {}) });
    });
  }

  private post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  /**
   * A buffer of `length` float32 values that an earlier handed-over input left and nobody holds any more (see
   * RunOptions.handOver), or undefined. Taking it empties the slot.
   */
  takeSpareInput(length: number): Float32Array | undefined {
    const buf = this.spare?.deref();
    if (buf === undefined || buf.byteLength !== length * 4) return undefined;
    this.spare = undefined;
    return new Float32Array(buf);
  }

  /** Runs the model and returns its first output (StNet: the softmax probabilities). */
  async run(data: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    const outputs = await this.runAll(data, dims);
    return outputs[this.outputNames[0]!]!;
  }

  /** Waits for the runs already asked for, then releases the session and its thread. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.accepting = false;
    await this.chain;
    if (this.dead === undefined) {
      this.worker.ref();
      await new Promise<void>((resolve) => {
        this.onClosed = resolve;
        this.post({ type: 'close' });
      });
    }
    this.terminating = true;
    this.shared = undefined;
    await this.worker.terminate();
  }

  get closed(): boolean {
    return !this.accepting;
  }
}
