// The timeline runner: one decode pass over the video, windows classified as soon as their last frame arrives.
//
// Every decoded frame goes once through the reference's per-frame transform (Pillow-exact 4:3 resize of only the
// centre-crop window, src/transforms) and the crop is kept in a ring of the last L frames (L = window length):
// the frames a pending window needs, shared by the windows that overlap, and also the frames a tail window may
// need, since where a stream ends is only known at its end. Memory is L crops (L * T * T * 3 bytes, e.g. 300
// frames at T = 256: 59 MB) plus two window tensors, whatever the video's length.
// A window's tensor is exactly loadVideo's for a video made of the window's frames: the same pure sampling
// (src/video/sample.ts) over its frame count, the same transforms, the same layout.
// One inference runs while the next window's frames are decoded (the session runs on its own thread).

import { validateClassifyOptions, topK } from '../classify.js';
import { StnetError, checkInteger, checkKnownKeys, invalidOption } from '../errors.js';
import { EMBEDDING_SIZE, NUM_CLASSES, SEGLEN } from '../graph/stnet.js';
import { centerCropOffsets } from '../transforms/crop.js';
import { clipDims, clipLength, frameOffset } from '../transforms/layout.js';
import { makeResizeCrop, type FusedCropTransform } from '../transforms/fused.js';
import { normalizePlanes } from '../transforms/normalize.js';
import { groupScaleSize, type RgbImage } from '../transforms/resize.js';
import { sampleFrameIndices } from '../video/sample.js';
import { resolveLoadVideoOptions, type LoadVideoOptions } from '../video/load-video.js';
import { openVideoStream, type VideoStream } from '../video/stream.js';
import type { TimelineOptions, WindowResult } from './types.js';
import { WindowTracker, checkWindowOptions, resolveWindowSpec, type WindowOptionNamer, type WindowRange, type WindowUnits } from './windows.js';

/** What the runner needs from a model: probabilities and embeddings for [1, segNum, 15, T, T]. */
export interface TimelinePredictor {
  predict(data: Float32Array, dims: readonly number[]): Promise<{ readonly probs: Float32Array; readonly embedding: Float32Array }>;
}

export const DEFAULT_READ_TIMEOUT_MS = 30_000;
/** Until the first frame: ffmpeg starting, connecting and probing (it reads about 5 s of a stream first). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** For the one message that can only come after the stream is open (a window in seconds shorter than seglen). */
const CLI_FLAGS = { windowSec: '--window', strideSec: '--stride', windowFrames: '--window_frames', strideFrames: '--stride_frames' } as const;

const OPTION_KEYS: readonly (keyof TimelineOptions)[] = [
  'windowSec',
  'strideSec',
  'windowFrames',
  'strideFrames',
  'topK',
  'segNum',
  'shortSize',
  'targetSize',
  'embedding',
  'readTimeoutMs',
  'connectTimeoutMs',
  'signal',
  'stdin',
  'onInfo',
];

export interface ResolvedTimelineOptions {
  readonly units: WindowUnits;
  readonly topK: number;
  readonly segNum: number;
  readonly shortSize: number;
  readonly targetSize: number;
  readonly embedding: boolean;
  readonly readTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly stdin: TimelineOptions['stdin'];
  readonly onInfo: TimelineOptions['onInfo'];
}

/** Validates every timeline option (sync, before any ffmpeg or onnxruntime work); unknown keys are refused. */
export function resolveTimelineOptions(opts: TimelineOptions = {}, name: (key: string) => string = (k) => k): ResolvedTimelineOptions {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('options', 'object', opts);
  checkKnownKeys(opts, OPTION_KEYS, 'timeline option');
  // The classification options have one owner: classify.ts checks them for timelines too.
  const c = validateClassifyOptions(
    {
      ...(opts.topK !== undefined ? { topK: opts.topK } : {}),
      ...(opts.segNum !== undefined ? { segNum: opts.segNum } : {}),
      ...(opts.shortSize !== undefined ? { shortSize: opts.shortSize } : {}),
      ...(opts.targetSize !== undefined ? { targetSize: opts.targetSize } : {}),
      ...(opts.embedding !== undefined ? { embedding: opts.embedding } : {}),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    },
    name,
  );
  const units = checkWindowOptions(opts, SEGLEN, name as WindowOptionNamer);
  const readTimeoutMs = opts.readTimeoutMs === undefined ? DEFAULT_READ_TIMEOUT_MS : checkInteger(name('readTimeoutMs'), opts.readTimeoutMs, 1, 24 * 3600 * 1000);
  const connectTimeoutMs = opts.connectTimeoutMs === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : checkInteger(name('connectTimeoutMs'), opts.connectTimeoutMs, 1, 24 * 3600 * 1000);
  if (opts.onInfo !== undefined && typeof opts.onInfo !== 'function') throw invalidOption(name('onInfo'), 'function', opts.onInfo);
  if (opts.stdin !== undefined && (typeof opts.stdin !== 'object' || opts.stdin === null || typeof opts.stdin.pipe !== 'function')) throw invalidOption(name('stdin'), 'readable stream', opts.stdin);
  return { units, topK: c.topK, segNum: c.segNum, shortSize: c.shortSize, targetSize: c.targetSize, embedding: c.embedding, readTimeoutMs, connectTimeoutMs, signal: c.signal, stdin: opts.stdin, onInfo: opts.onInfo };
}

/** Builds a window's model input from the ring of crops, as loadVideo would for a video of just those frames. */
export class WindowTensorBuilder {
  private readonly sampleCache = new Map<number, number[]>();

  constructor(
    private readonly segNum: number,
    private readonly size: number,
  ) {}

  /** `frameAt(i)` returns the T x T crop of decoded frame i (absolute index), as planes [3][T][T] (cropPipeline's). */
  build(w: Pick<WindowRange, 'start' | 'end'>, frameAt: (i: number) => Uint8Array, out: Float32Array): void {
    const n = w.end - w.start;
    let indices = this.sampleCache.get(n);
    if (indices === undefined) this.sampleCache.set(n, (indices = sampleFrameIndices(n, this.segNum, SEGLEN)));
    const T = this.size;
    indices.forEach((idx, k) => {
      normalizePlanes(frameAt(w.start + idx), out, frameOffset(k, SEGLEN, T));
    });
  }
}

/**
 * The per-frame transform for frames of one size: resize only the centre-crop window, as loadVideo does, with the
 * same WebAssembly kernel, stopping at the uint8 crop (planes [3][T][T]; normalised per window, so the ring holds
 * bytes, not floats). `run`'s result is valid until the next call; frames assembled in `input` are not copied.
 */
export function cropPipeline(width: number, height: number, shortSize: number, target: number): FusedCropTransform {
  const [rw, rh] = groupScaleSize(width, height, shortSize);
  const crop = centerCropOffsets(rw, rh, target);
  return makeResizeCrop(width, height, rw, rh, { x: crop.x, y: crop.y, width: target, height: target });
}

/**
 * The stream's frames, assembled straight into a crop transform's input (no copy per frame); `crop()` is that
 * transform, made when the size is known: after the first `frames.next()` has returned.
 */
function croppedFrames(stream: VideoStream, shortSize: number, target: number): { frames: AsyncGenerator<RgbImage, number>; crop: () => FusedCropTransform } {
  let crop: FusedCropTransform | undefined;
  const frames = stream.frames((w, h) => (crop = cropPipeline(w, h, shortSize, target)).input);
  return {
    frames,
    crop: () => {
      if (crop === undefined) throw new Error('croppedFrames: no frame size yet');
      return crop;
    },
  };
}

/**
 * The windows of `input` (a file, `-` or a URL), each classified as soon as its last frame is decoded.
 * Stopping the iteration early ends ffmpeg.
 */
export async function* runTimeline(predictor: TimelinePredictor, input: string, opts: TimelineOptions = {}): AsyncGenerator<WindowResult, void, undefined> {
  const o = resolveTimelineOptions(opts);
  if (typeof input !== 'string' || input === '') throw invalidOption('input', 'a file path, "-" or a stream URL', input);
  const stream = await openVideoStream(input, { readTimeoutMs: o.readTimeoutMs, connectTimeoutMs: o.connectTimeoutMs, signal: o.signal, stdin: o.stdin });
  let inflight: Promise<WindowResult> | undefined;
  try {
    const { frames, crop: cropOf } = croppedFrames(stream, o.shortSize, o.targetSize);
    // The first next() waits for the stream info, so the ring can be sized before the first frame.
    let first = await frames.next();
    const info = await stream.info;
    const spec = resolveWindowSpec(o.units, info.fps, SEGLEN, (k) => `${k} (${CLI_FLAGS[k]} on the CLI)`);
    o.onInfo?.({ path: input, fps: info.fps, width: info.width, height: info.height, windowFrames: spec.length, strideFrames: spec.stride });
    const L = spec.length;
    const T = o.targetSize;
    const ring: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(L);
    const crop = cropOf(); // sized by the first next()
    const tracker = new WindowTracker(spec);
    const builder = new WindowTensorBuilder(o.segNum, T);
    const dims = clipDims(o.segNum, SEGLEN, T);
    const elements = o.segNum * SEGLEN * 3 * T * T; // [segNum, seglen*3, T, T]
    // Two tensors: one may be waiting in the session's queue while the next is filled.
    const buffers = [new Float32Array(elements), new Float32Array(elements)];
    let turn = 0;
    const fps = info.fps;
    const frameAt = (i: number): Uint8Array => ring[i % L]!;

    const start = (w: WindowRange): Promise<WindowResult> => {
      const data = buffers[turn]!;
      turn ^= 1;
      builder.build(w, frameAt, data);
      const p = predictor.predict(data, dims).then(({ probs, embedding }) => ({
        path: input,
        window: w.index,
        startFrame: w.start,
        endFrame: w.end,
        startSec: fps > 0 ? w.start / fps : 0,
        endSec: fps > 0 ? w.end / fps : 0,
        predictions: topK(probs.subarray(0, NUM_CLASSES), o.topK),
        ...(o.embedding ? { embedding: Array.from(embedding.subarray(0, EMBEDDING_SIZE)) } : {}),
      }));
      // Awaited later; a rejection in the meantime must not count as unhandled.
      p.catch(() => undefined);
      return p;
    };

    let n = 0;
    while (first.done !== true) {
      // Copied into a slot the ring owns: the resizer's output buffer is not promised to outlive the next call.
      const slot = (ring[n % L] ??= new Uint8Array(T * T * 3));
      slot.set(crop.run(first.value));
      n++;
      for (const w of tracker.framesDecoded(n)) {
        // Building the next tensor reuses the buffer of the window before the one in flight: that one is done.
        const next = start(w);
        if (inflight !== undefined) yield await inflight;
        inflight = next;
      }
      first = await frames.next();
    }
    if (n === 0) throw new StnetError('E_VIDEO_NO_FRAMES', `No frame of ${input} decodes`, { path: input });
    for (const w of tracker.end(n)) {
      const next = start(w);
      if (inflight !== undefined) yield await inflight;
      inflight = next;
    }
    if (inflight !== undefined) {
      const last = inflight;
      inflight = undefined;
      yield await last;
    }
  } finally {
    await stream.close();
    // A run still in the session's queue reads its buffer when its turn comes: wait for it before returning.
    if (inflight !== undefined) await inflight.catch(() => undefined);
  }
}

/**
 * A whole stream (stdin or a URL) as one clip, for `classify` / `stnet run`: the one window [0, N) once the stream
 * has ended, sampled and preprocessed as loadVideo does a file. N is unknown until the end and any frame may be
 * sampled, so the crops of every frame are kept (N * T * T * 3 bytes: one minute at 30 fps and T = 256 is 354 MB);
 * use the timeline for long or endless streams.
 */
export async function loadStreamClip(input: string, options: LoadVideoOptions): Promise<{ data: Float32Array; dims: [1, number, number, number, number] }> {
  const opts = resolveLoadVideoOptions(options);
  if (opts.seglen !== SEGLEN) throw invalidOption('seglen', `${SEGLEN}`, opts.seglen);
  const stream = await openVideoStream(input, { readTimeoutMs: opts.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS, connectTimeoutMs: Math.max(opts.timeoutMs ?? 0, DEFAULT_CONNECT_TIMEOUT_MS), signal: opts.signal });
  try {
    const { frames, crop: cropOf } = croppedFrames(stream, opts.shortSize, opts.targetSize);
    let next = await frames.next();
    const T = opts.targetSize;
    const crop = cropOf(); // sized by the first next()
    const crops: Uint8Array[] = [];
    while (next.done !== true) {
      crops.push(crop.run(next.value).slice());
      next = await frames.next();
    }
    if (crops.length === 0) throw new StnetError('E_VIDEO_NO_FRAMES', `No frame of ${input} decodes`, { path: input });
    const data = opts.output ?? new Float32Array(clipLength(opts.segNum, SEGLEN, T)); // [segNum, seglen*3, T, T]
    new WindowTensorBuilder(opts.segNum, T).build({ start: 0, end: crops.length }, (i) => crops[i]!, data);
    return { data, dims: clipDims(opts.segNum, SEGLEN, T) };
  } finally {
    await stream.close();
  }
}
