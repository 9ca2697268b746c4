// The model object: weights -> ONNX graph -> onnxruntime session, then tensors in, probabilities out.
import { availableParallelism } from 'node:os';
import { StnetError, checkInteger, checkKnownKeys, invalidOption } from './errors.js';
import { checkInputTensor } from './graph/input.js';
import { ModelSession, assertGpuAvailable } from './graph/session.js';
import { OUTPUT_EMBEDDING, OUTPUT_LOGITS, OUTPUT_PROBS, buildStnetOnnx } from './graph/stnet.js';
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
  type VideoLoader,
  type VideoResult,
} from './classify.js';
import { loadVideo } from './video/load-video.js';
import type { StnetWeights } from './weights/types.js';
import { loadStreamClip, runTimeline } from './timeline/runner.js';
import { isStreamInput } from './video/stream.js';
import type { TimelineOptions, WindowResult } from './timeline/types.js';

export interface StNetLoadOptions extends DownloadOptions {
  /** Weights file, module folder or archive (default: STNET_WEIGHTS, then the cache, then a download; see resolveWeights). */
  weights?: string;
  /** onnxruntime intra-op threads (default: all cores, os.availableParallelism()). */
  threads?: number;
  /** Run on the CUDA execution provider (needs onnxruntime-node installed with CUDA). Default false. */
  useGpu?: boolean;
}

/** Every key StNet.load accepts; anything else is a typo and is refused (a new option must be added here). */
const LOAD_OPTION_KEYS: readonly string[] = ['weights', 'threads', 'useGpu', ...DOWNLOAD_OPTION_KEYS];
/** Most onnxruntime intra-op threads a model may ask for (shared by the CLI's and the server's checks). */
export const MAX_THREADS = 1024;

/** Logits and probabilities of one forward pass, each B*400 values, and the B*1024 embedding the fc layer reads. */
export interface StNetOutputs {
  readonly probs: Float32Array;
  readonly logits: Float32Array;
  readonly embedding: Float32Array;
}

/** Validates StNet.load's options (before any file or onnxruntime work) and fills the defaults. */
export function checkLoadOptions(opts: unknown, keys: readonly string[] = LOAD_OPTION_KEYS): { weights: string | undefined; threads: number; useGpu: boolean } {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('options', 'an object', opts);
  const o = opts as Record<string, unknown>;
  checkKnownKeys(o, keys);
  if (o.weights !== undefined && (typeof o.weights !== 'string' || o.weights === '')) throw invalidOption('weights', 'a non-empty path string', o.weights);
  const threads = o.threads === undefined ? availableParallelism() : checkInteger('threads', o.threads, 1, MAX_THREADS);
  if (o.useGpu !== undefined && typeof o.useGpu !== 'boolean') throw invalidOption('useGpu', 'a boolean', o.useGpu);
  return { weights: o.weights as string | undefined, threads, useGpu: o.useGpu === true };
}

export class StNet {
  /** onnxruntime intra-op threads of this model. */
  readonly threads: number;
  /** Where the computation runs. */
  readonly provider: 'cpu' | 'cuda';

  private constructor(
    private readonly session: ModelSession,
    /** The weights file the model was built from (undefined when built from weights in memory). */
    readonly weightsPath: string | undefined,
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
    const { path, source, weights: downloaded } = await resolveWeights({ weights: o.weights, ...dl });
    // The graph cache (src/weights/cache.ts): a second start reads the built graph instead of the weights.
    const graphPath = graphCacheEnabled(dl.graphCache, source === 'cache' || source === 'download') ? graphCachePath(path, dl.cacheDir) : undefined;
    if (graphPath !== undefined) {
      const cached = await readGraphCache(graphPath);
      if (cached !== undefined) {
        try {
          return new StNet(await ModelSession.create(cached, { threads: o.threads, useGpu: o.useGpu, transferModel: true }), path);
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
    const o = checkLoadOptions(opts, LOAD_OPTION_KEYS.filter((k) => k !== 'weights' && !(DOWNLOAD_OPTION_KEYS as readonly string[]).includes(k)));
    return StNet.create(weights, o, undefined);
  }

  /**
   * `count` models on the same weights, each with its own onnxruntime session (the HTTP server's workers).
   * The graph is built once; each session gets its own copy of the bytes. Internal: used by src/server.
   */
  static async replicas(weights: StnetWeights, count: number, opts: Omit<StNetLoadOptions, 'weights'>, onEach?: (i: number) => void): Promise<StNet[]> {
    const o = checkLoadOptions(opts, LOAD_OPTION_KEYS.filter((k) => k !== 'weights' && !(DOWNLOAD_OPTION_KEYS as readonly string[]).includes(k)));
    checkInteger('count', count, 1);
    if (o.useGpu) assertGpuAvailable();
    const model = buildStnetOnnx(weights);
    const models: StNet[] = [];
    try {
      for (let i = 0; i < count; i++) {
        onEach?.(i);
        const last = i === count - 1;
        const bytes = last ? model : model.slice();
        models.push(new StNet(await ModelSession.create(bytes, { threads: o.threads, useGpu: o.useGpu, transferModel: true }), undefined));
      }
    } catch (err) {
      await Promise.allSettled(models.map((m) => m.close()));
      throw err;
    }
    return models;
  }

  private static async create(weights: StnetWeights, o: { threads: number; useGpu: boolean }, path: string | undefined, graphPath?: string): Promise<StNet> {
    // The serialized model is the only copy of the weights we make; it is dropped once onnxruntime holds its own.
    const model = buildStnetOnnx(weights);
    // Written before the session takes (transfers) the bytes; a failed write only costs the next start.
    if (graphPath !== undefined) await writeGraphCache(graphPath, model);
    const session = await ModelSession.create(model, { threads: o.threads, useGpu: o.useGpu, transferModel: true });
    return new StNet(session, path);
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
    const embedding = out[OUTPUT_EMBEDDING];
    if (embedding === undefined) {
      // Only a graph built by an older stnet lacks it (the graph cache key follows the builder's code).
      throw new StnetError('E_RUNTIME', `The ONNX graph has no "${OUTPUT_EMBEDDING}" output: it was built by an older stnet; remove $STNET_HOME/graphs (or set STNET_GRAPH_CACHE=0) and load the model again`);
    }
    return { probs: out[OUTPUT_PROBS]!, logits: out[OUTPUT_LOGITS]!, embedding };
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
      predict: async (data: Float32Array, dims: readonly number[]): Promise<Float32Array> => (await this.predictFrames(data, dims)).probs,
      predictWithEmbedding: (data: Float32Array, dims: readonly number[]): Promise<StNetOutputs> => this.predictFrames(data, dims),
    };
    // stdin (`-`) and stream URLs: one answer for the whole stream at its end (docs/timeline.md).
    const loader: VideoLoader = (path, lo) => (isStreamInput(path) ? loadStreamClip(path, lo) : loadVideo(path, lo));
    return classifyVideos(predictor, loader, list, o);
  }

  /** A forward pass on a tensor built from 8-bit pixels: the shape is checked, the finite-values scan is skipped. */
  private predictFrames(data: Float32Array, dims: readonly number[]): Promise<StNetOutputs> {
    checkInputTensor(data, dims, { values: false });
    return this.run(data, dims);
  }

  /**
   * The actions of a long video or a live stream, window by window (docs/timeline.md): an async iterable of
   * window results, each yielded as soon as its last frame has been decoded and classified. Breaking out of the
   * loop (or aborting `signal`) ends ffmpeg. `input` is a file path, `-` (stdin) or an http(s)/rtsp/rtmp/udp URL.
   * Options are validated before any work (the first `next()` rejects with E_INVALID_OPTION).
   */
  timeline(input: string, opts: TimelineOptions = {}): AsyncIterable<WindowResult> {
    if (this.session.closed) throw closedError();
    return runTimeline({ predict: (data, dims) => this.predictFrames(data, dims) }, input, opts);
  }

  /** `timeline()` collected into an array (every window of the video, in order). */
  async timelineAll(input: string, opts: TimelineOptions = {}): Promise<WindowResult[]> {
    const out: WindowResult[] = [];
    for await (const w of this.timeline(input, opts)) out.push(w);
    return out;
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
