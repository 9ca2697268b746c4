// The only file that uses onnxruntime-node: a session over a serialized ONNX model, run one call at a time.
//
// The session lives in a worker thread. onnxruntime-node's run() is synchronous underneath (the promise only
// defers it with setImmediate), so on the main thread a multi-second forward pass would freeze the event loop:
// no HTTP responses, no ffmpeg output read for the next video, no timers, no aborts. In a worker, the main
// thread stays free and only the input tensor is copied over (tens of ms for a 25x256x256 input, against
// seconds of inference).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { StnetError } from '../errors.js';

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

/** All outputs of one run, by graph output name. */
export type ModelOutputs = Readonly<Record<string, Float32Array>>;

const requireHere = createRequire(import.meta.url);

/** The folder that holds libonnxruntime.so and, on CUDA installs, the provider libraries. */
function ortLibDir(): string {
  return join(dirname(requireHere.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

const CUDA_PROVIDER_LIB: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'libonnxruntime_providers_cuda.so',
  win32: 'onnxruntime_providers_cuda.dll',
};

/** Whether this onnxruntime-node install has a CUDA provider library (its default install skips it). */
export function cudaProviderInstalled(): boolean {
  const lib = CUDA_PROVIDER_LIB[process.platform];
  return lib !== undefined && existsSync(join(ortLibDir(), lib));
}

function gpuUnavailable(detail: string, cause?: unknown): StnetError {
  return new StnetError(
    'E_GPU_UNAVAILABLE',
    `GPU inference was asked for (useGpu / --use_gpu) but ${detail}. Install onnxruntime-node with CUDA ` +
      '(npm install onnxruntime-node --onnxruntime-node-install=cuda12 on a machine with CUDA 12 and cuDNN 9), or drop useGpu.',
    cause === undefined ? {} : { cause },
  );
}

/** Throws E_GPU_UNAVAILABLE unless onnxruntime-node's CUDA provider library is installed. */
export function assertGpuAvailable(): void {
  if (!cudaProviderInstalled()) {
    const lib = CUDA_PROVIDER_LIB[process.platform];
    throw gpuUnavailable(`this onnxruntime-node has no CUDA provider (${lib === undefined ? `no CUDA build for ${process.platform}` : `${lib} is not in ${ortLibDir()}`})`);
  }
}

// The worker's code, plain CommonJS (an eval'd worker), so that it runs the same from dist/ and under vitest.
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const message = (err) => String((err && err.message) || err);
let session;
let shared;
let local = new Float32Array(0);
const collectGarbage = () => {
  try {
    require('node:v8').setFlagsFromString('--expose-gc');
    require('node:vm').runInNewContext('gc')();
  } catch {
    // Not essential: the bytes are freed at the first collection anyway.
  }
};
parentPort.on('message', async (msg) => {
  if (msg.type === 'run') {
    try {
      if (msg.buffer) shared = msg.buffer;
      // onnxruntime-node refuses SharedArrayBuffer-backed arrays: copy into this thread's own (reused) buffer.
      if (local.length < msg.length) local = new Float32Array(msg.length);
      const data = local.subarray(0, msg.length);
      data.set(new Float32Array(shared, 0, msg.length));
      const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, msg.dims) });
      const outputs = {};
      for (const name of session.outputNames) outputs[name] = res[name].data;
      parentPort.postMessage({ type: 'result', id: msg.id, outputs });
    } catch (err) {
      parentPort.postMessage({ type: 'result', id: msg.id, error: message(err) });
    }
  } else if (msg.type === 'close') {
    try {
      if (session) await session.release();
    } finally {
      parentPort.postMessage({ type: 'closed' });
    }
  }
});
ort.InferenceSession.create(workerData.model, workerData.options).then(
  (s) => {
    session = s;
    // onnxruntime copied the weights out of the model bytes. This thread now idles until the first run, so
    // its heap would not be collected on its own: drop the bytes and collect once, now.
    workerData.model = undefined;
    collectGarbage();
    parentPort.postMessage({ type: 'ready', inputNames: s.inputNames, outputNames: s.outputNames });
  },
  (err) => parentPort.postMessage({ type: 'failed', error: message(err) }),
);
`;

type FromWorker =
  | { type: 'ready'; inputNames: string[]; outputNames: string[] }
  | { type: 'failed'; error: string }
  | { type: 'result'; id: number; outputs?: Record<string, Float32Array>; error?: string }
  | { type: 'closed' };

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

  /** Starts a session on its own thread. */
  static async create(model: Uint8Array, opts: ModelSessionOptions): Promise<ModelSession> {
    if (opts.useGpu) assertGpuAvailable();
    const options: InferenceSession.SessionOptions = {
      executionProviders: opts.useGpu ? ['cuda', 'cpu'] : ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: opts.optimization ?? 'all',
      enableCpuMemArena: true,
      enableMemPattern: true,
      // Warnings from onnxruntime's native logger would go straight to stderr; failures still reach us as errors.
      logSeverityLevel: 3,
      ...(opts.optimizedModelPath !== undefined ? { optimizedModelFilePath: opts.optimizedModelPath } : {}),
    };
    const transfer = opts.transferModel === true && model.byteOffset === 0 && model.byteLength === model.buffer.byteLength;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // The worker is CommonJS; without this it inherits the host's flags, and under `node --input-type=module`
      // its `require` would be undefined.
      execArgv: [],
      workerData: { ortPath: requireHere.resolve('onnxruntime-node'), model, options },
      transferList: transfer ? [model.buffer as ArrayBuffer] : [],
    });
    let onMessage: (m: FromWorker) => void = () => undefined;
    let onError: (e: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    const first = await new Promise<FromWorker>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new Error(`the onnxruntime worker thread exited with code ${code} while loading the model`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    }).catch((err: unknown) => ({ type: 'failed', error: (err as Error).message }) as const);
    worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    if (first.type !== 'ready') {
      await worker.terminate();
      const detail = first.type === 'failed' ? first.error : `unexpected message ${first.type}`;
      if (opts.useGpu) throw gpuUnavailable('onnxruntime could not start its CUDA provider', new Error(detail));
      throw new StnetError('E_RUNTIME', `onnxruntime could not create the session: ${detail}`, { cause: new Error(detail) });
    }
    return new ModelSession(worker, opts.useGpu ? 'cuda' : 'cpu', opts.threads, first.outputNames);
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
    if (msg.error !== undefined) {
      p.reject(new StnetError('E_RUNTIME', `onnxruntime failed to run the model on input [${p.dims.join(', ')}]: ${msg.error}`, { cause: new Error(msg.error) }));
    } else {
      p.resolve(msg.outputs!);
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
   * order; `data` is copied when its turn comes, so the caller may reuse it once the promise settles.
   */
  runAll(data: Float32Array, dims: readonly number[]): Promise<ModelOutputs> {
    if (!this.accepting) return Promise.reject(new StnetError('E_MODEL_CLOSED', 'The model was closed: load a new one with StNet.load()'));
    const job = this.chain.then(() => this.send(data, [...dims]));
    this.chain = job.catch(() => undefined);
    return job;
  }

  private send(data: Float32Array, dims: readonly number[]): Promise<ModelOutputs> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    let buffer: SharedArrayBuffer | undefined;
    if (this.shared === undefined || this.shared.byteLength < data.byteLength) {
      this.shared = buffer = new SharedArrayBuffer(data.byteLength);
    }
    new Float32Array(this.shared, 0, data.length).set(data);
    const id = this.nextId++;
    return new Promise<ModelOutputs>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, dims });
      this.worker.ref();
      this.worker.postMessage({ type: 'run', id, dims, length: data.length, buffer });
    });
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
        this.worker.postMessage({ type: 'close' });
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
