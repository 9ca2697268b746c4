// The model object: weights -> ONNX graph -> onnxruntime session, then tensors in, probabilities out.
import { availableParallelism } from 'node:os';
import { StnetError, checkInteger, checkKnownKeys, invalidOption } from './errors.js';
import { checkInputTensor } from './graph/input.js';
import { ModelSession, assertGpuAvailable } from './graph/session.js';
import { OUTPUT_LOGITS, OUTPUT_PROBS, buildStnetOnnx } from './graph/stnet.js';
import { loadWeights } from './weights/index.js';
import { resolveWeights, checkDownloadOptions, DOWNLOAD_OPTION_KEYS, type DownloadOptions } from './weights/resolve.js';
import { graphCacheEnabled, graphCachePath, readGraphCache, removeGraphCache, writeGraphCache } from './weights/cache.js';
import {
  classifyVideos,
  hubResults,
  validateClassifyOptions,
  validateHubInput,
  validatePaths,
  type ClassifyOptions,
  type HubInput,
  type HubResult,
  type VideoResult,
} from './classify.js';
import { loadVideo } from './video/load-video.js';
import type { StnetWeights } from './weights/types.js';
import { readStnetModel } from './graph/model-file.js';
import { buildInt8Model, calibrationIdentity } from './quantize.js';

/** Numeric precision of the graph: fp32 (default), or int8 (QDQ, calibrated; see docs/model.md "int8"). */
export type Precision = 'fp32' | 'int8';
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8'];

export interface StNetLoadOptions extends DownloadOptions {
  /** Weights file, module folder or archive (default: STNET_WEIGHTS, then the cache, then a download; see resolveWeights). */
  weights?: string;
  /** onnxruntime intra-op threads (default: all cores, os.availableParallelism()). */
  threads?: number;
  /** Run on the CUDA execution provider (needs onnxruntime-node installed with CUDA). Default false. */
  useGpu?: boolean;
  /** 'fp32' (default) or 'int8': the graph quantized with ranges calibrated on `calibration` (CPU only). */
  precision?: Precision;
  /** int8 calibration videos (default: the bundled example clip). The int8 graph is cached per weights and calibration. */
  calibration?: readonly string[];
  /** A graph written by `stnet export-onnx` or `stnet quantize` to run instead of building one from weights. */
  model?: string;
}

/** Every key StNet.load accepts; anything else is a typo and is refused (a new option must be added here). */
const LOAD_OPTION_KEYS: readonly string[] = ['weights', 'threads', 'useGpu', 'precision', 'calibration', 'model', ...DOWNLOAD_OPTION_KEYS];
/** Most onnxruntime intra-op threads a model may ask for (shared by the CLI's and the server's checks). */
export const MAX_THREADS = 1024;

/** Logits and probabilities of one forward pass, each B*400 values. */
export interface StNetOutputs {
  readonly probs: Float32Array;
  readonly logits: Float32Array;
}

/** Validates StNet.load's options (before any file or onnxruntime work) and fills the defaults. */
export interface CheckedLoadOptions {
  weights: string | undefined;
  threads: number;
  useGpu: boolean;
  precision: Precision;
  calibration: readonly string[] | undefined;
  model: string | undefined;
}

export function checkLoadOptions(opts: unknown, keys: readonly string[] = LOAD_OPTION_KEYS): CheckedLoadOptions {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('options', 'an object', opts);
  const o = opts as Record<string, unknown>;
  checkKnownKeys(o, keys);
  if (o.weights !== undefined && (typeof o.weights !== 'string' || o.weights === '')) throw invalidOption('weights', 'a non-empty path string', o.weights);
  const threads = o.threads === undefined ? availableParallelism() : checkInteger('threads', o.threads, 1, MAX_THREADS);
  if (o.useGpu !== undefined && typeof o.useGpu !== 'boolean') throw invalidOption('useGpu', 'a boolean', o.useGpu);
  const precision = o.precision ?? 'fp32';
  if (!PRECISIONS.includes(precision as Precision)) throw invalidOption('precision', PRECISIONS.map((p) => JSON.stringify(p)).join(' or '), precision);
  if (o.model !== undefined && (typeof o.model !== 'string' || o.model === '')) throw invalidOption('model', 'a non-empty path string', o.model);
  if (o.model !== undefined && o.weights !== undefined) throw new StnetError('E_INVALID_OPTION', 'give either model (a graph file) or weights, not both');
  const cal = o.calibration;
  if (cal !== undefined && (!Array.isArray(cal) || cal.length === 0 || cal.some((p) => typeof p !== 'string' || p === ''))) {
    throw invalidOption('calibration', 'a non-empty array of video paths', Array.isArray(cal) ? JSON.stringify(cal) : cal);
  }
  if (cal !== undefined && (precision !== 'int8' || o.model !== undefined)) throw new StnetError('E_INVALID_OPTION', "calibration only applies to precision 'int8' built from weights (not with fp32 or a model file)");
  // onnxruntime's CUDA provider has no fused QLinearConv: the QDQ graph would run as float there, untested, so refused.
  if (precision === 'int8' && o.useGpu === true) {
    throw new StnetError('E_INVALID_OPTION', "precision 'int8' runs on the CPU only (onnxruntime's CUDA provider does not run the QDQ graph as int8); drop useGpu / --use_gpu or use precision 'fp32'");
  }
  return { weights: o.weights as string | undefined, threads, useGpu: o.useGpu === true, precision: precision as Precision, calibration: cal as readonly string[] | undefined, model: o.model as string | undefined };
}

export class StNet {
  /** onnxruntime intra-op threads of this model. */
  readonly threads: number;
  /** Where the computation runs. */
  readonly provider: 'cpu' | 'cuda';

  private constructor(
    private readonly session: ModelSession,
    /** The weights file the model was built from (undefined when built from weights in memory or a model file). */
    readonly weightsPath: string | undefined,
    /** The graph's precision. */
    readonly precision: Precision = 'fp32',
  ) {
    this.threads = session.threads;
    this.provider = session.provider;
  }

  /** Loads the weights, builds the graph and starts an onnxruntime session. Options are validated first. */
  static async load(opts: StNetLoadOptions = {}): Promise<StNet> {
    const o = checkLoadOptions(opts);
    // Fail before the weights are read: loading them takes a second or more.
    if (o.useGpu) assertGpuAvailable();
    const dl = checkDownloadOptions(opts);
    if (o.model !== undefined) {
      // A graph file: checked as a StNet graph, never cached (it is already a file).
      const file = await readStnetModel(o.model);
      if (opts.precision !== undefined && opts.precision !== file.precision) {
        throw new StnetError('E_INVALID_OPTION', `precision ${JSON.stringify(opts.precision)} was asked for, but ${o.model} is a ${file.precision} graph; drop precision or give the other file`, { path: o.model });
      }
      if (file.precision === 'int8' && o.useGpu) throw new StnetError('E_INVALID_OPTION', `${o.model} is an int8 graph, which runs on the CPU only; drop useGpu / --use_gpu`);
      return new StNet(await ModelSession.create(file.bytes, { threads: o.threads, useGpu: o.useGpu, transferModel: true }), undefined, file.precision);
    }
    const { path, source, weights: downloaded } = await resolveWeights({ weights: o.weights, ...dl });
    const int8 = o.precision === 'int8' ? { calibration: o.calibration } : undefined;
    // The graph cache (src/weights/cache.ts): a second start reads the built graph instead of the weights. An int8
    // graph costs a calibration run to build, so it is cached for explicit weights too (its key covers the file).
    const cacheOn = graphCacheEnabled(dl.graphCache, int8 !== undefined || source === 'cache' || source === 'download');
    const graphPath = cacheOn ? graphCachePath(path, dl.cacheDir, int8 === undefined ? undefined : calibrationIdentity(o.calibration !== undefined ? { calibration: o.calibration } : {})) : undefined;
    if (graphPath !== undefined) {
      const cached = await readGraphCache(graphPath);
      if (cached !== undefined) {
        try {
          return new StNet(await ModelSession.create(cached, { threads: o.threads, useGpu: o.useGpu, transferModel: true }), path, o.precision);
        } catch {
          // Unreadable by onnxruntime: rebuild it from the weights. (A GPU that is really missing fails again,
          // with E_GPU_UNAVAILABLE, when the rebuilt graph's session is created.)
          await removeGraphCache(graphPath);
        }
      }
    }
    // A fresh download was already parsed to validate it: no second parse.
    const weights = downloaded ?? (await loadWeights(path));
    return StNet.create(weights, o, path, graphPath);
  }

  /** Builds the model from weights already in memory (e.g. from loadWeights). */
  static async fromWeights(weights: StnetWeights, opts: Omit<StNetLoadOptions, 'weights'> = {}): Promise<StNet> {
    // Weights in memory: the path, download and cache options do not apply.
    const o = checkLoadOptions(opts, LOAD_OPTION_KEYS.filter((k) => k !== 'weights' && k !== 'model' && !(DOWNLOAD_OPTION_KEYS as readonly string[]).includes(k)));
    return StNet.create(weights, o, undefined);
  }

  /**
   * `count` models on the same weights, each with its own onnxruntime session (the HTTP server's workers).
   * The graph is built once; each session gets its own copy of the bytes. Internal: used by src/server.
   */
  static async replicas(weights: StnetWeights, count: number, opts: Omit<StNetLoadOptions, 'weights'>, onEach?: (i: number) => void): Promise<StNet[]> {
    const o = checkLoadOptions(opts, LOAD_OPTION_KEYS.filter((k) => k !== 'weights' && k !== 'model' && !(DOWNLOAD_OPTION_KEYS as readonly string[]).includes(k)));
    checkInteger('count', count, 1);
    if (o.useGpu) assertGpuAvailable();
    const fp32 = buildStnetOnnx(weights);
    const model = o.precision === 'int8' ? await buildInt8Model(fp32, { threads: o.threads, ...(o.calibration !== undefined ? { calibration: o.calibration } : {}) }) : fp32;
    const models: StNet[] = [];
    try {
      for (let i = 0; i < count; i++) {
        onEach?.(i);
        const last = i === count - 1;
        // A copy per session (new Uint8Array copies; the encoder's Buffer.slice() would be a view whose transfer detaches the original).
        const bytes = last ? model : new Uint8Array(model);
        models.push(new StNet(await ModelSession.create(bytes, { threads: o.threads, useGpu: o.useGpu, transferModel: true }), undefined, o.precision));
      }
    } catch (err) {
      await Promise.allSettled(models.map((m) => m.close()));
      throw err;
    }
    return models;
  }

  private static async create(
    weights: StnetWeights,
    o: { threads: number; useGpu: boolean; precision: Precision; calibration?: readonly string[] | undefined },
    path: string | undefined,
    graphPath?: string,
  ): Promise<StNet> {
    // The serialized model is the only copy of the weights we make; it is dropped once onnxruntime holds its own.
    const fp32 = buildStnetOnnx(weights);
    const model = o.precision === 'int8' ? await buildInt8Model(fp32, { threads: o.threads, ...(o.calibration !== undefined ? { calibration: o.calibration } : {}) }) : fp32;
    // Written before the session takes (transfers) the bytes; a failed write only costs the next start.
    if (graphPath !== undefined) await writeGraphCache(graphPath, model);
    const session = await ModelSession.create(model, { threads: o.threads, useGpu: o.useGpu, transferModel: true });
    return new StNet(session, path, o.precision);
  }

  /** Softmax probabilities for input [B, segNum, 15, H, W] (normalized super-images): B*400 values, row-major. */
  async predict(data: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    return (await this.forward(data, dims)).probs;
  }

  /** Probabilities and the logits before softmax, for input [B, segNum, 15, H, W]. */
  async forward(data: Float32Array, dims: readonly number[]): Promise<StNetOutputs> {
    checkInputTensor(data, dims);
    return this.run(data, dims);
  }

  private async run(data: Float32Array, dims: readonly number[]): Promise<StNetOutputs> {
    if (this.session.closed) throw closedError();
    const out = await this.session.runAll(data, dims);
    return { probs: out[OUTPUT_PROBS]!, logits: out[OUTPUT_LOGITS]! };
  }

  /**
   * Classifies videos in input order: `{ path, ok: true, predictions, timing }` or `{ path, ok: false, error }`
   * per video (one bad video never sinks the batch). Decoding of the next video overlaps inference of the
   * current one. Options are validated before any work.
   */
  async classify(paths: readonly string[], opts: ClassifyOptions = {}): Promise<VideoResult[]> {
    const o = validateClassifyOptions(opts);
    const list = validatePaths(paths);
    if (this.session.closed) throw closedError();
    // loadVideo's tensors come from 8-bit pixels: the shape is checked, the finite-values scan is skipped.
    const predictor = {
      predict: async (data: Float32Array, dims: readonly number[]): Promise<Float32Array> => {
        checkInputTensor(data, dims, { values: false });
        return (await this.run(data, dims)).probs;
      },
    };
    return classifyVideos(predictor, loadVideo, list, o);
  }

  /**
   * PaddleHub's `video_classification(data={"image": [paths]})`: one object per video, top-k label -> probability,
   * highest first. Like the hub, a video that cannot be classified throws (use classify() to get per-video errors).
   */
  async videoClassification(data: HubInput, opts: ClassifyOptions = {}): Promise<HubResult[]> {
    const paths = validateHubInput(data);
    return hubResults(await this.classify(paths, opts));
  }

  /** Releases the onnxruntime session (after a run in progress). Later calls fail with E_MODEL_CLOSED. */
  async close(): Promise<void> {
    await this.session.close();
  }
}

function closedError(): StnetError {
  return new StnetError('E_MODEL_CLOSED', 'The model was closed: load a new one with StNet.load()');
}
