// The model object: weights -> ONNX graph -> onnxruntime session, then tensors in, probabilities out.
import { availableParallelism } from 'node:os';
import { StnetError, checkInteger, checkKnownKeys, invalidOption } from './errors.js';
import { checkInputTensor } from './graph/input.js';
import { ModelSession, assertGpuAvailable, closedError } from './graph/session.js';
import { OUTPUT_EMBEDDING, OUTPUT_LOGITS, OUTPUT_PROBS } from './graph/stnet.js';
import {
  MODEL_SOURCE_KEYS,
  checkModelSourceOptions,
  discardCachedGraph,
  loadModelBytes,
  modelBytesFromWeights,
  type LoadModelBytesOptions,
  type ModelBytes,
  type ModelSourceOptions,
  type Precision,
  type ResolvedModelSource,
} from './model/load.js';

export { PRECISIONS } from './model/load.js';
export type { Precision } from './model/load.js';
import {
  classifyVideos,
  hubResults,
  validateClassifyOptions,
  validateHubInput,
  validatePaths,
  type ClassifyOptions,
  type HubInput,
  type HubResult,
  type Predictor,
  type VideoLoader,
  type VideoResult,
} from './classify.js';
import { loadVideo } from './video/load-video.js';
import type { StnetWeights } from './weights/types.js';
import { loadStreamClip, runTimeline } from './timeline/runner.js';
import { isStreamInput } from './video/stream.js';
import type { TimelineOptions, WindowResult } from './timeline/types.js';

export interface StNetLoadOptions extends ModelSourceOptions {
  /** onnxruntime intra-op threads (default: all cores, os.availableParallelism()). */
  threads?: number;
  /** Run on the CUDA execution provider (needs onnxruntime-node installed with CUDA). Default false. */
  useGpu?: boolean;
}

/** The session's own options (StNet.load's options minus the model source's). */
const SESSION_OPTION_KEYS: readonly string[] = ['threads', 'useGpu'];
/** Every key StNet.load accepts; anything else is a typo and is refused (a new option must be added here). */
const LOAD_OPTION_KEYS: readonly string[] = ['weights', ...SESSION_OPTION_KEYS, ...MODEL_SOURCE_KEYS.filter((k) => k !== 'weights')];
/** Most onnxruntime intra-op threads a model may ask for (shared by the CLI's and the server's checks). */
export const MAX_THREADS = 1024;

/** Logits and probabilities of one forward pass, each B*400 values, and the B*1024 embedding the fc layer reads. */
export interface StNetOutputs {
  readonly probs: Float32Array;
  readonly logits: Float32Array;
  readonly embedding: Float32Array;
}

interface SessionChoice {
  readonly threads: number;
  readonly useGpu: boolean;
}

function checkOptionsObject(opts: unknown, keys: readonly string[]): Record<string, unknown> {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('options', 'an object', opts);
  checkKnownKeys(opts, keys);
  return opts as Record<string, unknown>;
}

function checkSessionOptions(o: Record<string, unknown>): SessionChoice {
  const threads = o.threads === undefined ? availableParallelism() : checkInteger('threads', o.threads, 1, MAX_THREADS);
  if (o.useGpu !== undefined && typeof o.useGpu !== 'boolean') throw invalidOption('useGpu', 'a boolean', o.useGpu);
  return { threads, useGpu: o.useGpu === true };
}

/** Validates StNet.load's options (before any file or onnxruntime work) and fills the defaults. */
export function checkLoadOptions(opts: unknown): { weights: string | undefined; threads: number; useGpu: boolean; precision: Precision } {
  const o = checkOptionsObject(opts, LOAD_OPTION_KEYS);
  const source = checkModelSourceOptions(o as ModelSourceOptions);
  const session = checkSessionOptions(o);
  if (source.precision === 'int8' && session.useGpu) throw int8OnGpu();
  return { weights: source.weights, ...session, precision: source.precision ?? 'fp32' };
}

/** classify()'s reader: stdin (`-`) and stream URLs give one answer for the whole stream at its end (docs/timeline.md). */
const CLASSIFY_LOADER: VideoLoader = (path, lo) => (isStreamInput(path) ? loadStreamClip(path, lo) : loadVideo(path, lo));

/** StNet's constructor, for loadStnetModels below (the class keeps it private to users). */
let newStNet: (session: ModelSession, weightsPath: string | undefined, precision: Precision) => StNet;
/** StNet's classify() predictor, for classifyWhileLoading below. */
let predictorOf: (m: StNet) => Predictor;

export class StNet {
  /** onnxruntime intra-op threads of this model. */
  readonly threads: number;
  /** Where the computation runs. */
  readonly provider: 'cpu' | 'cuda';

  static {
    newStNet = (session, weightsPath, precision) => new StNet(session, weightsPath, precision);
    predictorOf = (m) => m.classifyPredictor();
  }

  private constructor(
    private readonly session: ModelSession,
    /** The weights file the model was built from (undefined when built from weights in memory or a model file). */
    readonly weightsPath: string | undefined,
    /** The graph's precision ('int8': the quantized graph). */
    readonly precision: Precision,
  ) {
    this.threads = session.threads;
    this.provider = session.provider;
  }

  /**
   * Gets the model (the cached graph, or the weights parsed and the graph built: src/model/load.ts) and starts
   * an onnxruntime session on it. Options are validated first.
   */
  static async load(opts: StNetLoadOptions = {}): Promise<StNet> {
    const [model] = await loadStnetModels(opts, 1);
    return model!;
  }

  /** Builds the model from weights already in memory (e.g. from loadWeights). */
  static async fromWeights(weights: StnetWeights, opts: Omit<StNetLoadOptions, 'weights'> = {}): Promise<StNet> {
    // Weights in memory: the path, download and cache options do not apply.
    const s = checkSessionOptions(checkOptionsObject(opts, SESSION_OPTION_KEYS));
    if (s.useGpu) await assertGpuAvailable();
    const [model] = await openSessions(await modelBytesFromWeights(weights), 1, s);
    return model!;
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

  private async run(data: Float32Array, dims: readonly number[], handOver = false): Promise<StNetOutputs> {
    if (this.session.closed) throw closedError();
    const out = await this.session.runAll(data, dims, { handOver });
    const embedding = out[OUTPUT_EMBEDDING];
    if (embedding === undefined) {
      // Only a graph from before GRAPH_BUILDER_VERSION 2 lacks it (a cached one is not reused: the key has the version).
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
    return classifyVideos(this.classifyPredictor(), CLASSIFY_LOADER, list, o);
  }

  /** What classify() runs each decoded video through. */
  private classifyPredictor(): Predictor {
    if (this.session.closed) throw closedError();
    // loadVideo's tensors come from 8-bit pixels: the shape is checked, the finite-values scan is skipped.
    // Each decoded tensor is used once: it is handed over to onnxruntime's thread, not copied (peak RSS).
    return {
      predict: async (data: Float32Array, dims: readonly number[]): Promise<Float32Array> => (await this.predictFrames(data, dims, true)).probs,
      predictWithEmbedding: (data: Float32Array, dims: readonly number[]): Promise<StNetOutputs> => this.predictFrames(data, dims, true),
      spareInput: (length: number): Float32Array | undefined => this.session.takeSpareInput(length),
    };
  }

  /** A forward pass on a tensor built from 8-bit pixels: the shape is checked, the finite-values scan is skipped. */
  private predictFrames(data: Float32Array, dims: readonly number[], handOver = false): Promise<StNetOutputs> {
    checkInputTensor(data, dims, { values: false });
    return this.run(data, dims, handOver);
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

/**
 * StNet#classify on a model that is still loading: the first video is decoded while the model loads (graph read
 * or built, session created), so a one-video `stnet run` pays for the slower of the two, not their sum (issue 10,
 * start-up). Internal (the CLI's; not exported from the package). The caller owns the model and closes it.
 */
export async function classifyWhileLoading(loading: Promise<StNet>, paths: readonly string[], opts: ClassifyOptions = {}): Promise<VideoResult[]> {
  const o = validateClassifyOptions(opts);
  const list = validatePaths(paths);
  return classifyVideos(
    loading.then((m) => predictorOf(m)),
    CLASSIFY_LOADER,
    list,
    o,
  );
}

/** What loadStnetModels reports as it goes (the server prints it). */
export interface LoadProgress {
  /** Before session `index` (0-based) of `count` starts. */
  readonly onSession?: (index: number, count: number) => void;
  /** Once the model's bytes are in hand: read from the graph cache or built from `weightsPath`. */
  readonly onModel?: (m: { readonly weightsPath: string | undefined; readonly graph: ModelBytes['graph'] }) => void;
}

/**
 * `count` models from one load: the model's bytes are got once (loadModelBytes: the graph cache, or the weights
 * parsed and the graph built once), then each model gets its own onnxruntime session on its own copy. Internal
 * (not exported from the package): StNet.load is the case count = 1, the HTTP server's workers the others.
 * `cacheByDefault` turns the graph cache on for explicit weights too (the CLI and the server restart with the
 * same weights again and again); STNET_GRAPH_CACHE and the graphCache option still decide first.
 */
export async function loadStnetModels(opts: StNetLoadOptions, count: number, progress: LoadProgress = {}, cacheByDefault?: boolean): Promise<StNet[]> {
  const o = checkOptionsObject(opts, LOAD_OPTION_KEYS);
  const session = checkSessionOptions(o);
  const source: ResolvedModelSource = checkModelSourceOptions(opts);
  checkInteger('count', count, 1);
  // onnxruntime's CUDA provider has no fused QLinearConv: the QDQ graph would run as float there, untested, so refused.
  if (source.precision === 'int8' && session.useGpu) throw int8OnGpu();
  // Fail before the weights are read: loading them takes a second or more.
  if (session.useGpu) await assertGpuAvailable();
  const how: LoadModelBytesOptions = { threads: session.threads, ...(cacheByDefault === undefined ? {} : { cacheByDefault }) };
  const model = await loadModelBytes(source, how);
  if (model.precision === 'int8' && session.useGpu) throw int8OnGpu();
  progress.onModel?.({ weightsPath: model.weightsPath, graph: model.graph });
  try {
    return await openSessions(model, count, session, progress.onSession);
  } catch (err) {
    if (model.graph !== 'cache') throw err;
    // A cached graph onnxruntime cannot read: rebuild it from the weights. (A GPU that is really missing fails
    // again, with E_GPU_UNAVAILABLE, when the rebuilt graph's session is created.)
    await discardCachedGraph(model);
    return openSessions(await loadModelBytes(source, { ...how, rebuild: true }), count, session, progress.onSession);
  }
}

function int8OnGpu(): StnetError {
  return new StnetError('E_INVALID_OPTION', "precision 'int8' runs on the CPU only (onnxruntime's CUDA provider does not run the QDQ graph as int8); drop useGpu / --use_gpu or use precision 'fp32'");
}

/**
 * One session per model; from bytes, the last one takes the bytes themselves and the others a copy; from a cache
 * file, each reads the file. Closes them all on failure.
 */
async function openSessions(model: ModelBytes, count: number, s: SessionChoice, onSession?: (i: number, count: number) => void): Promise<StNet[]> {
  const models: StNet[] = [];
  try {
    for (let i = 0; i < count; i++) {
      onSession?.(i, count);
      // A copy, not slice(): on the Buffer protobufjs encodes into, slice() is a view that transferring the last
      // session's bytes would empty.
      const m = typeof model.model === 'string' || i === count - 1 ? model.model : new Uint8Array(model.model);
      models.push(newStNet(await ModelSession.create(m, { threads: s.threads, useGpu: s.useGpu, transferModel: true }), model.weightsPath, model.precision));
    }
  } catch (err) {
    await Promise.allSettled(models.map((m) => m.close()));
    throw err;
  }
  return models;
}
