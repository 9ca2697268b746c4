// Probabilities -> top-k labels, and classification of many videos with one model.
// The batch is a one-ahead pipeline: video i+1 is decoded (ffmpeg child process + resize) while
// video i runs through onnxruntime (native threads), so on a multi-core machine the decode time of
// all but the first video hides behind inference. A video that cannot be read becomes an
// `{ ok: false }` result; only problems that would fail every video (ffmpeg missing, the model
// closed, onnxruntime failing, cancellation) reject the whole call.
import { ERROR_CODES, StnetError, checkInteger, checkKnownKeys, invalidOption, isStnetError, type StnetErrorCode } from './errors.js';
import { EMBEDDING_SIZE, NUM_CLASSES, SEGLEN } from './graph/stnet.js';
import { KINETICS400_LABELS } from './labels/kinetics400.js';
import { clipLength } from './transforms/layout.js';
import { LOAD_VIDEO_DEFAULTS, LOAD_VIDEO_LIMITS, resolveLoadVideoOptions, type LoadVideoOptionName, type LoadVideoOptions } from './video/load-video.js';

export { NUM_CLASSES, SEGLEN };

/** Defaults: the reference's MODEL.topk, and the video loader's own defaults (its INFER config; docs/video.md). */
export const CLASSIFY_DEFAULTS = Object.freeze({
  topK: 5,
  segNum: LOAD_VIDEO_DEFAULTS.segNum,
  shortSize: LOAD_VIDEO_DEFAULTS.shortSize,
  targetSize: LOAD_VIDEO_DEFAULTS.targetSize,
});

/**
 * Bounds checked before any work; the CLI's messages and --help use the same table. topK is classify's own; the
 * video entries are the loader's (src/video/load-video.ts owns them and checks them in resolveLoadVideoOptions).
 */
export const CLASSIFY_LIMITS = Object.freeze({
  topK: [1, NUM_CLASSES] as const,
  segNum: LOAD_VIDEO_LIMITS.segNum,
  shortSize: LOAD_VIDEO_LIMITS.shortSize,
  targetSize: LOAD_VIDEO_LIMITS.targetSize,
  decodeTimeoutMs: LOAD_VIDEO_LIMITS.timeoutMs,
} satisfies Record<string, readonly [number, number]>);

export interface Prediction {
  /** Kinetics-400 class name, underscore form (`arm_wrestling`). */
  readonly label: string;
  /** Class id 0..399. */
  readonly index: number;
  /** Softmax probability. */
  readonly prob: number;
}

export interface VideoTiming {
  /** Decode + resize + normalise, ms. Runs while the previous video is in inference. */
  readonly decodeMs: number;
  /** onnxruntime run, ms. */
  readonly inferMs: number;
}

export type VideoResult =
  | {
      readonly path: string;
      readonly ok: true;
      readonly predictions: readonly Prediction[];
      readonly timing: VideoTiming;
      /** The 1024 values the fc layer reads (with `embedding: true`): max-pooled temporal Xception output. */
      readonly embedding?: readonly number[];
    }
  | { readonly path: string; readonly ok: false; readonly error: { readonly code: StnetErrorCode; readonly message: string } };

export interface ClassifyProgress {
  /** Videos finished so far (ok or not), 1..total. */
  readonly done: number;
  readonly total: number;
  /** Position of the finished video in the input. */
  readonly index: number;
  readonly result: VideoResult;
}

export interface ClassifyOptions {
  /** How many labels per video, 1..400. Default 5 (the reference's MODEL.topk). */
  topK?: number;
  /** Segments sampled per video. Default 25 (reference INFER config). */
  segNum?: number;
  /** Short side after the reference's fixed 4:3 resize. Default 256. */
  shortSize?: number;
  /** Centre-crop size (<= shortSize). Default 256. */
  targetSize?: number;
  /** Per-video decode timeout in ms (default: the video loader's). */
  decodeTimeoutMs?: number;
  /** Also return each video's 1024-value embedding (the fc layer's input), for search and clustering. Default false. */
  embedding?: boolean;
  /** Called after each video, in input order. */
  onProgress?: (p: ClassifyProgress) => void;
  /** Aborting stops decoding (kills ffmpeg) and rejects with E_CANCELLED. */
  signal?: AbortSignal;
}

/** Hub-compatible result: one object per video, top-k label -> probability, highest first. */
export type HubResult = Record<string, number>;

export interface HubInput {
  image: readonly string[];
}

// --- the two collaborators, as small structural interfaces (StNet and loadVideo satisfy them)

export interface Predictor {
  /** data: [B, segNum, 15, H, W] float32 -> B*400 softmax probabilities. */
  predict(data: Float32Array, dims: readonly number[]): Promise<Float32Array>;
  /** Probabilities and the B*1024 embeddings in one pass (needed for `embedding: true`). */
  predictWithEmbedding?(data: Float32Array, dims: readonly number[]): Promise<{ readonly probs: Float32Array; readonly embedding: Float32Array }>;
  /**
   * A tensor buffer of `length` floats the predictor is done with (an earlier input it was given), for the next
   * video to be decoded into (loadVideo's `output`), or undefined.
   */
  spareInput?(length: number): Float32Array | undefined;
}

export interface LoadedVideo {
  readonly data: Float32Array;
  /** [segNum, 15, H, W] (or with a leading batch dim of 1). */
  readonly dims: readonly number[];
}

/** loadVideo, or a stand-in with its options (src/video/load-video.ts owns them: they are not re-declared here). */
export type VideoLoader = (path: string, opts: LoadVideoOptions) => Promise<LoadedVideo>;

// --- validation

const OPTION_KEYS: readonly (keyof ClassifyOptions)[] = ['topK', 'segNum', 'shortSize', 'targetSize', 'decodeTimeoutMs', 'embedding', 'onProgress', 'signal'];

/** Maps an option's TS name to the name a user typed (the CLI passes `--top_k` etc.). */
export type OptionNamer = (key: keyof ClassifyOptions) => string;

export interface ResolvedClassifyOptions {
  readonly topK: number;
  readonly segNum: number;
  readonly shortSize: number;
  readonly targetSize: number;
  readonly decodeTimeoutMs: number | undefined;
  readonly embedding: boolean;
  readonly onProgress: ((p: ClassifyProgress) => void) | undefined;
  readonly signal: AbortSignal | undefined;
}

/** Checks every option (and rejects unknown keys, so a typo never passes silently); fills defaults. */
export function validateClassifyOptions(opts: ClassifyOptions = {}, name: OptionNamer = (k) => k): ResolvedClassifyOptions {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('options', 'object', opts);
  checkKnownKeys(opts, OPTION_KEYS);
  const topK = opts.topK === undefined ? CLASSIFY_DEFAULTS.topK : checkInteger(name('topK'), opts.topK, ...CLASSIFY_LIMITS.topK);
  // The video options are the loader's: it checks them (bounds, targetSize <= shortSize), in the caller's names.
  const loaderName: Partial<Record<LoadVideoOptionName, keyof ClassifyOptions>> = { timeoutMs: 'decodeTimeoutMs' };
  const video = resolveLoadVideoOptions(
    {
      ...(opts.segNum !== undefined ? { segNum: opts.segNum } : {}),
      ...(opts.shortSize !== undefined ? { shortSize: opts.shortSize } : {}),
      ...(opts.targetSize !== undefined ? { targetSize: opts.targetSize } : {}),
      ...(opts.decodeTimeoutMs !== undefined ? { timeoutMs: opts.decodeTimeoutMs } : {}),
    },
    (key) => name(loaderName[key] ?? (key as keyof ClassifyOptions)),
  );
  const { segNum, shortSize, targetSize } = video;
  const decodeTimeoutMs = opts.decodeTimeoutMs === undefined ? undefined : video.timeoutMs;
  if (opts.embedding !== undefined && typeof opts.embedding !== 'boolean') throw invalidOption(name('embedding'), 'boolean', opts.embedding);
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw invalidOption(name('onProgress'), 'function', opts.onProgress);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalidOption(name('signal'), 'AbortSignal', opts.signal);
  return { topK, segNum, shortSize, targetSize, decodeTimeoutMs, embedding: opts.embedding === true, onProgress: opts.onProgress, signal: opts.signal };
}

export function validatePaths(paths: unknown, name = 'paths'): readonly string[] {
  if (!Array.isArray(paths)) throw invalidOption(name, 'array of video paths', paths);
  paths.forEach((p, i) => {
    if (typeof p !== 'string' || p === '') throw invalidOption(`${name}[${i}]`, 'non-empty string', p);
  });
  return paths as string[];
}

// --- top-k

/**
 * The k most probable classes of one 400-vector, highest first (the reference's
 * `argsort()[-k:][::-1]`). Ties, which real softmax output practically never has, go to the lower id.
 */
export function topK(probs: ArrayLike<number>, k: number, labels: readonly string[] = KINETICS400_LABELS): Prediction[] {
  if (probs.length !== labels.length) {
    throw new StnetError('E_INVALID_INPUT', `Expected ${labels.length} probabilities but received ${probs.length}`);
  }
  checkInteger('topK', k, 1, probs.length);
  const order = Array.from({ length: probs.length }, (_, i) => i);
  order.sort((a, b) => probs[b]! - probs[a]! || a - b);
  return order.slice(0, k).map((index) => ({ label: labels[index]!, index, prob: probs[index]! }));
}

/** One hub-style object: label -> prob, insertion order = highest first. */
export function toHubResult(predictions: readonly Prediction[]): HubResult {
  const out: HubResult = {};
  for (const p of predictions) out[p.label] = p.prob;
  return out;
}

// --- the batch

type Decoded = { ok: true; video: LoadedVideo; decodeMs: number } | { ok: false; error: unknown };

/**
 * Classifies `paths` in input order with a one-ahead decode pipeline. Options must be validated. `predictor` may
 * still be loading (a promise): the first video is decoded meanwhile, and a failed load stops that decode.
 */
export async function classifyVideos(
  predictorOrLoading: Predictor | PromiseLike<Predictor>,
  loadVideo: VideoLoader,
  paths: readonly string[],
  opts: ResolvedClassifyOptions,
): Promise<VideoResult[]> {
  const loading = Promise.resolve(predictorOrLoading);
  loading.catch(() => undefined); // awaited below; a cancel before then must not leave a failed load unhandled
  throwIfCancelled(opts.signal);
  // Aborted on cancel and when a batch-level error stops the loop, so a decode running ahead stops too.
  const stop = new AbortController();
  const signal = opts.signal === undefined ? stop.signal : AbortSignal.any([opts.signal, stop.signal]);
  const loadOpts: LoadVideoOptions = {
    segNum: opts.segNum,
    seglen: SEGLEN,
    shortSize: opts.shortSize,
    targetSize: opts.targetSize,
    signal,
    ...(opts.decodeTimeoutMs !== undefined ? { timeoutMs: opts.decodeTimeoutMs } : {}),
  };
  // A decoded tensor is given to the predictor and not used again here; the predictor may give its buffer back
  // for a later video (no new 98 MB array, its page faults and garbage, per video of a batch).
  const length = clipLength(opts.segNum, SEGLEN, opts.targetSize);
  const decode = async (path: string, predictor?: Predictor): Promise<Decoded> => {
    const t0 = performance.now();
    try {
      const output = predictor?.spareInput?.(length);
      const video = await loadVideo(path, output !== undefined ? { ...loadOpts, output } : loadOpts);
      return { ok: true, video, decodeMs: performance.now() - t0 };
    } catch (error) {
      return { ok: false, error };
    }
  };

  const results: VideoResult[] = [];
  let next: Promise<Decoded> | undefined = paths.length > 0 ? decode(paths[0]!) : undefined;
  try {
    const predictor = await loading;
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i]!;
      const decoded: Decoded = await next!;
      throwIfCancelled(opts.signal);
      next = i + 1 < paths.length ? decode(paths[i + 1]!, predictor) : undefined;
      let result: VideoResult;
      if (!decoded.ok) {
        result = failure(path, decoded.error);
      } else {
        const { data, dims } = decoded.video;
        const batchDims = dims.length === 4 ? [1, ...dims] : [...dims]; // [1, segNum, 15, H, W]
        const t0 = performance.now();
        let probs: Float32Array;
        let embedding: Float32Array | undefined;
        try {
          if (opts.embedding) {
            if (predictor.predictWithEmbedding === undefined) throw new StnetError('E_INVALID_OPTION', 'embedding: true needs a predictor with predictWithEmbedding (StNet has one)');
            ({ probs, embedding } = await untilCancelled(predictor.predictWithEmbedding(data, batchDims), opts.signal));
          } else {
            probs = await untilCancelled(predictor.predict(data, batchDims), opts.signal);
          }
        } catch (err) {
          throwIfCancelled(opts.signal);
          throw err;
        }
        const inferMs = performance.now() - t0;
        result = {
          path,
          ok: true,
          predictions: topK(probs.subarray(0, NUM_CLASSES), opts.topK),
          timing: { decodeMs: round1(decoded.decodeMs), inferMs: round1(inferMs) },
          ...(embedding !== undefined ? { embedding: Array.from(embedding.subarray(0, EMBEDDING_SIZE)) } : {}),
        };
      }
      results.push(result);
      opts.onProgress?.({ done: i + 1, total: paths.length, index: i, result });
    }
  } finally {
    if (next !== undefined) {
      stop.abort();
      await next; // never rejects; waits until ffmpeg is gone
    }
  }
  return results;
}

/** Per-video failure, or a rethrow when the problem is not the video's (it would fail every video). */
function failure(path: string, err: unknown): VideoResult {
  if (isStnetError(err)) {
    if (err.code === 'E_CANCELLED' || ERROR_CODES[err.code].kind !== 'input') throw err;
    return { path, ok: false, error: { code: err.code, message: err.message } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { path, ok: false, error: { code: 'E_VIDEO_UNDECODABLE', message: `${path}: ${message}` } };
}

/**
 * `run`, or E_CANCELLED as soon as `signal` aborts. onnxruntime cannot stop a forward pass (and ending its thread
 * mid-run aborts the process), so a cancelled pass still runs to its end, its result unused: the session runs
 * one pass at a time, so the next run and close() wait for it. The caller answers at once instead of after it.
 */
function untilCancelled<T>(run: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return run;
  run.catch(() => undefined); // a pass abandoned by a cancel may still fail later: not unhandled
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(cancelled(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([run, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

function cancelled(signal: AbortSignal): StnetError {
  return new StnetError('E_CANCELLED', 'classification was cancelled', { cause: signal.reason });
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled(signal);
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** `videoClassification({ image: paths })`: hub-compatible; throws the first failed video's error, as the hub would. */
export function hubResults(results: readonly VideoResult[]): HubResult[] {
  return results.map((r) => {
    if (!r.ok) throw new StnetError(r.error.code, r.error.message, { path: r.path });
    return toHubResult(r.predictions);
  });
}

export function validateHubInput(data: unknown): readonly string[] {
  if (typeof data !== 'object' || data === null || !('image' in data)) throw invalidOption('data', 'object { image: string[] }', data);
  return validatePaths((data as { image: unknown }).image, 'data.image');
}
