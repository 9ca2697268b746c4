// The only file that imports onnxruntime-node: a session over a serialized ONNX model, run one call at a time.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { StnetError } from '../errors.js';

export interface ModelSessionOptions {
  /** intra-op threads (onnxruntime's per-operator thread pool). */
  threads: number;
  /** Run on the CUDA execution provider instead of the CPU. */
  useGpu: boolean;
}

/** All outputs of one run, by graph output name. */
export type ModelOutputs = Readonly<Record<string, Float32Array>>;

/** The folder that holds libonnxruntime.so and, on CUDA installs, the provider libraries. */
function ortLibDir(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
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

export class ModelSession {
  private session: ort.InferenceSession | undefined;
  /** Runs are chained: onnxruntime already spreads one run over all intra-op threads, and parallel runs would
   *  oversubscribe the cores and multiply the activation memory. */
  private queue: Promise<unknown> = Promise.resolve();
  readonly inputName: string;
  readonly outputNames: readonly string[];

  private constructor(
    session: ort.InferenceSession,
    readonly provider: 'cpu' | 'cuda',
    readonly threads: number,
  ) {
    this.session = session;
    this.inputName = session.inputNames[0]!;
    this.outputNames = [...session.outputNames];
  }

  /** Creates a session; `model` may be dropped by the caller afterwards (onnxruntime keeps its own copy). */
  static async create(model: Uint8Array, opts: ModelSessionOptions): Promise<ModelSession> {
    if (opts.useGpu) assertGpuAvailable();
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: opts.useGpu ? ['cuda', 'cpu'] : ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      enableMemPattern: true,
      // Warnings from onnxruntime's native logger would go straight to stderr; failures still reach us as errors.
      logSeverityLevel: 3,
    };
    try {
      const session = await ort.InferenceSession.create(model, options);
      return new ModelSession(session, opts.useGpu ? 'cuda' : 'cpu', opts.threads);
    } catch (err) {
      if (opts.useGpu) throw gpuUnavailable('onnxruntime could not start its CUDA provider', err);
      throw new StnetError('E_RUNTIME', `onnxruntime could not create the session: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs the model on one float32 tensor and returns every output. Calls are serialized. */
  runAll(data: Float32Array, dims: readonly number[]): Promise<ModelOutputs> {
    const next = this.queue.then(() => this.runNow(data, dims));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Runs the model and returns its first output (StNet: the softmax probabilities). */
  async run(data: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    const outputs = await this.runAll(data, dims);
    return outputs[this.outputNames[0]!]!;
  }

  private async runNow(data: Float32Array, dims: readonly number[]): Promise<ModelOutputs> {
    const session = this.session;
    if (session === undefined) throw new StnetError('E_MODEL_CLOSED', 'The model was closed: load a new one with StNet.load()');
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run({ [this.inputName]: new ort.Tensor('float32', data, dims) });
    } catch (err) {
      throw new StnetError('E_RUNTIME', `onnxruntime failed to run the model on input [${dims.join(', ')}]: ${(err as Error).message}`, { cause: err });
    }
    const out: Record<string, Float32Array> = {};
    for (const name of this.outputNames) {
      out[name] = results[name]!.data as Float32Array;
    }
    return out;
  }

  /** Releases the native session after any queued run finished. Idempotent. */
  async close(): Promise<void> {
    await this.queue;
    const session = this.session;
    this.session = undefined;
    if (session !== undefined) await session.release();
  }

  get closed(): boolean {
    return this.session === undefined;
  }
}
