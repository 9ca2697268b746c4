// loadVideo: a video file -> the reference's normalised super-image tensor [1, segNum, seglen*3, T, T].
// probe (ffprobe) -> sample (pure) -> decode only the sampled frames (ffmpeg) -> per frame, as it arrives:
// Pillow-exact resize of just the crop window -> normalise -> write into every slot that uses the frame.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StnetError, checkInteger, checkKnownKeys, invalidOption } from '../errors.js';
import { findFfmpeg, type FfmpegInfo } from './ffmpeg.js';
import { cancelledError, type RunLimits } from './child.js';
import { probeVideo } from './probe.js';
import { decodeFrames, startDecoder, type DecodeResult, type EarlyDecoder } from './decode.js';
import { SEGLEN, distinctSorted, sampleFrameIndices } from './sample.js';
import { groupScaleSize, type RgbImage } from '../transforms/resize.js';
import { centerCropOffsets } from '../transforms/crop.js';
import { makeResizeNormalize } from '../transforms/fused.js';
import { clipDims, clipLength, frameOffset } from '../transforms/layout.js';

export interface LoadVideoOptions {
  /** Segments per clip (reference inference: 25). */
  segNum?: number;
  /** Consecutive frames per segment (StNet: SEGLEN = 5). */
  seglen?: number;
  /** Short side after the 4:3 resize (256). */
  shortSize?: number;
  /** Center-crop size, the model's input size (256); at most shortSize. */
  targetSize?: number;
  /** Limit for the whole call, integer ms. Default: 120 s plus the video's duration (so long videos are not cut off). */
  timeoutMs?: number;
  /** Aborting kills ffmpeg at once and rejects with E_CANCELLED. */
  signal?: AbortSignal;
  /**
   * OS priority of ffprobe/ffmpeg relative to this process (os.setPriority niceness added, 0..19). Default 0:
   * measured on a machine busy with other work, decoding at niceness 10 next to onnxruntime made a batch slower
   * (docs/model.md), because the nice'd decoder then waits for every other process too.
   */
  niceness?: number;
  /**
   * Write the clip into this array instead of a new one: exactly segNum * seglen * 3 * targetSize^2 floats, every
   * one of which is overwritten; the clip's `data` is then this array. For callers that recycle their tensors (a
   * fresh 98 MB array at the reference's size costs its page faults again, and memory until it is collected).
   */
  output?: Float32Array;
}

export interface VideoInfo {
  /** N: frames the reference would read (min of OpenCV's frame count and the frames that decode). */
  frameCount: number;
  /** Size of the decoded frames (after rotation), before resizing. */
  width: number;
  height: number;
  fps: number;
  codec: string;
  /** Sampled frame indices, segment-major (segNum * seglen, repeats allowed). */
  frameIndices: number[];
  /** Display rotation applied, degrees clockwise (0/90/180/270). */
  rotation?: number;
  /** Container duration in seconds (0 when unknown). */
  durationSec: number;
  /** OpenCV's CAP_PROP_FRAME_COUNT for this file (header nb_frames, else duration * fps); null when the file has neither. */
  containerFrameCount: number | null;
  /** Size after the 4:3 resize, [width, height]. */
  resized: [number, number];
  /** Center-crop offsets into the resized frame. */
  cropOffset: { x: number; y: number };
  /** ffmpeg decode runs needed (2 only when fewer frames decode than the container announces). */
  decodePasses: number;
}

export interface Clip {
  /** float32, C order, dims below. */
  data: Float32Array;
  /** [1, segNum, seglen*3, targetSize, targetSize] */
  dims: [1, number, number, number, number];
  info: VideoInfo;
}

/**
 * Defaults: the reference's INFER settings. The one source of these values: classify and the CLI pass their
 * options through to the loader and take defaults and bounds from here.
 */
export const LOAD_VIDEO_DEFAULTS = Object.freeze({ segNum: 25, seglen: SEGLEN, shortSize: 256, targetSize: 256 } as const);

/**
 * Bounds, [min, max] integers, checked by resolveLoadVideoOptions (and shown by the CLI's --help). segNum 100:
 * the clip tensor grows linearly with it (100 segments at 256 px are 393 MB of float32, four times the
 * reference's 25); sizes 32..1024: the network needs at least 32 px (five stride-2 stages) and 1024 px already
 * makes a 1.5 GB clip at 25 segments. timeoutMs: whole milliseconds up to one day.
 */
export const LOAD_VIDEO_LIMITS = Object.freeze({
  segNum: [1, 100],
  seglen: [1, 64],
  shortSize: [32, 1024],
  targetSize: [32, 1024],
  timeoutMs: [1, 24 * 3600 * 1000],
  niceness: [0, 19],
} as const satisfies Record<string, readonly [number, number]>);

/** Base of the default timeout; the video's duration is added to it. */
export const DEFAULT_TIMEOUT_BASE_MS = 120_000;
/** Default `niceness`: the children run at this process's priority. */
export const DEFAULT_NICENESS = 0;

const KNOWN_OPTIONS = ['segNum', 'seglen', 'shortSize', 'targetSize', 'timeoutMs', 'signal', 'niceness', 'output'] as const satisfies readonly (keyof LoadVideoOptions)[];
/** Largest clip tensor accepted (elements), far above the reference's 25*15*256*256 = 24.6 M. */
const MAX_ELEMENTS = 2 ** 29;

export type LoadVideoOptionName = keyof LoadVideoOptions;

/** Options after resolveLoadVideoOptions: checked, defaults filled. */
export interface ResolvedLoadVideoOptions {
  readonly segNum: number;
  readonly seglen: number;
  readonly shortSize: number;
  readonly targetSize: number;
  /** undefined: the default (DEFAULT_TIMEOUT_BASE_MS plus the video's duration). */
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly niceness: number;
  readonly output: Float32Array | undefined;
}

/**
 * Checks loadVideo options and fills defaults (sync, before any file or process work). Throws E_INVALID_OPTION.
 * `name` maps an option to the name its caller's user typed (classify: `decodeTimeoutMs`; the CLI: `--seg_num`),
 * so outer layers pass options through instead of checking them again.
 */
export function resolveLoadVideoOptions(opts: LoadVideoOptions = {}, name: (key: LoadVideoOptionName) => string = (k) => k): ResolvedLoadVideoOptions {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw invalidOption('options', 'an object', opts);
  checkKnownKeys(opts, KNOWN_OPTIONS, 'loadVideo option');
  const int = (key: keyof typeof LOAD_VIDEO_LIMITS, value: unknown): number => checkInteger(name(key), value, LOAD_VIDEO_LIMITS[key][0], LOAD_VIDEO_LIMITS[key][1]);
  const segNum = int('segNum', opts.segNum ?? LOAD_VIDEO_DEFAULTS.segNum);
  const seglen = int('seglen', opts.seglen ?? LOAD_VIDEO_DEFAULTS.seglen);
  const shortSize = int('shortSize', opts.shortSize ?? LOAD_VIDEO_DEFAULTS.shortSize);
  const targetSize = int('targetSize', opts.targetSize ?? LOAD_VIDEO_DEFAULTS.targetSize);
  // After the 4:3 resize the short side is shortSize, so the reference's crop assertion (w, h >= target) holds
  // exactly when targetSize <= shortSize: checked here, once, rather than after decoding.
  if (targetSize > shortSize) throw invalidOption(name('targetSize'), `integer <= ${name('shortSize')} (${shortSize})`, targetSize);
  const elements = clipLength(segNum, seglen, targetSize);
  if (elements > MAX_ELEMENTS) {
    throw new StnetError('E_INVALID_OPTION', `Expected ${name('segNum')} * ${name('seglen')} * 3 * ${name('targetSize')}^2 <= ${MAX_ELEMENTS} but received ${segNum}*${seglen}*3*${targetSize}^2 = ${elements}`);
  }
  const timeoutMs = opts.timeoutMs === undefined ? undefined : int('timeoutMs', opts.timeoutMs);
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption(name('signal'), 'AbortSignal', signal);
  const niceness = int('niceness', opts.niceness ?? DEFAULT_NICENESS);
  const output = opts.output;
  if (output !== undefined && (!(output instanceof Float32Array) || output.length !== elements)) {
    throw invalidOption(name('output'), `a Float32Array of ${name('segNum')} * ${name('seglen')} * 3 * ${name('targetSize')}^2 = ${elements} values`, output instanceof Float32Array ? `one of ${output.length}` : output);
  }
  return { segNum, seglen, shortSize, targetSize, timeoutMs, signal, niceness, output };
}

/** Not found / not a file / empty, each with its code; shared with src/video/stream.ts. */
export async function checkFile(abs: string): Promise<void> {
  let st;
  try {
    st = await stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new StnetError('E_VIDEO_NOT_FOUND', `Video not found: ${abs}`, { path: abs, cause: err });
    throw new StnetError('E_VIDEO_NOT_FOUND', `Cannot access video ${abs}: ${(err as Error).message}`, { path: abs, cause: err });
  }
  if (!st.isFile()) throw new StnetError('E_VIDEO_NOT_FILE', `Not a video file: ${abs} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}`, { path: abs });
  if (st.size === 0) throw new StnetError('E_VIDEO_EMPTY', `Video file is empty (0 bytes): ${abs}`, { path: abs });
}

/** Per-frame transform for frames of one size: resize (only the crop window) + crop + normalise -> CHW slot. */
function framePipeline(width: number, height: number, shortSize: number, target: number) {
  const [rw, rh] = groupScaleSize(width, height, shortSize);
  const crop = centerCropOffsets(rw, rh, target);
  const transform = makeResizeNormalize(width, height, rw, rh, { x: crop.x, y: crop.y, width: target, height: target });
  return { resized: [rw, rh] as [number, number], crop, transform };
}

/**
 * Decodes `path` and builds the model input exactly as the reference reader does (reference.md 2).
 * Errors: E_INVALID_OPTION, E_VIDEO_NOT_FOUND, E_VIDEO_NOT_FILE, E_VIDEO_EMPTY, E_VIDEO_UNDECODABLE,
 * E_VIDEO_NO_STREAM, E_VIDEO_NO_FRAMES, E_VIDEO_TIMEOUT, E_CANCELLED, E_FFMPEG_MISSING.
 */
export async function loadVideo(path: string, opts: LoadVideoOptions = {}): Promise<Clip> {
  if (typeof path !== 'string' || path.length === 0) throw invalidOption('path', 'non-empty string', path);
  const o = resolveLoadVideoOptions(opts);
  const abs = resolve(path);
  if (o.signal?.aborted) throw cancelledError(abs);
  await checkFile(abs);
  const tools = await findFfmpeg();
  const start = Date.now();
  const limits: RunLimits = { deadline: start + (o.timeoutMs ?? DEFAULT_TIMEOUT_BASE_MS), timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_BASE_MS, signal: o.signal, path: abs };

  // ffmpeg starts now, alongside ffprobe: both spend most of a short clip's time loading their libraries and
  // opening the file; ffmpeg then waits on stdin for the frame selection the probe leads to (issue 10).
  let early: EarlyDecoder | undefined = abs.includes('%') ? undefined : startDecoder(tools, abs, limits, o.niceness);
  try {
    return await sampleAndDecode(tools, abs, o, limits, start, () => {
      const e = early;
      early = undefined;
      return e;
    });
  } finally {
    await early?.abandon();
  }
}

async function sampleAndDecode(tools: FfmpegInfo, abs: string, o: ResolvedLoadVideoOptions, limits: RunLimits, start: number, takeEarly: () => EarlyDecoder | undefined): Promise<Clip> {
  const probe = await probeVideo(tools, abs, limits, o.niceness);
  if (o.timeoutMs === undefined) {
    limits.timeoutMs = DEFAULT_TIMEOUT_BASE_MS + Math.ceil(probe.durationSec * 1000);
    limits.deadline = start + limits.timeoutMs;
  }
  const C = probe.opencvFrameCount;
  // First guess of N from the demux-only packet count (0 when ffprobe could not count: then OpenCV's count).
  let n = probe.packets > 0 ? Math.min(C, probe.packets) : C;
  if (!(n >= 1) || !Number.isFinite(n)) {
    const count = Number.isFinite(C) ? `container frame count ${C}` : 'no container frame count';
    throw new StnetError('E_VIDEO_NO_FRAMES', `${abs} has a video stream (${probe.codec}) but no frames (${count}, ${probe.packets} packets)`, { path: abs });
  }
  const pipeline = framePipeline(probe.width, probe.height, o.shortSize, o.targetSize);
  const dims = clipDims(o.segNum, o.seglen, o.targetSize);
  const data = o.output ?? new Float32Array(clipLength(o.segNum, o.seglen, o.targetSize)); // [segNum, seglen*3, T, T]
  const block = 3 * o.targetSize * o.targetSize;

  // The decode reports the true count; a second pass happens only if that changes the sample (frames that fail
  // to decode, truncated files).
  let passes = 0;
  for (;;) {
    const indices = sampleFrameIndices(n, o.segNum, o.seglen);
    const distinct = distinctSorted(indices);
    const slots = new Map<number, number[]>();
    indices.forEach((idx, k) => {
      const list = slots.get(idx);
      if (list) list.push(k);
      else slots.set(idx, [k]);
    });
    passes++;
    // ffmpeg's frames are written straight into the transform's input buffer (no copy).
    const req = { distinct, width: probe.width, height: probe.height, formatName: probe.formatName, frameBuffer: pipeline.transform.input };
    const onFrame = (idx: number, img: RgbImage): void => {
      const ks = slots.get(idx)!;
      const first = frameOffset(ks[0]!, o.seglen, o.targetSize);
      pipeline.transform.run(data, first, img);
      for (let i = 1; i < ks.length; i++) data.copyWithin(frameOffset(ks[i]!, o.seglen, o.targetSize), first, first + block);
    };
    // The early ffmpeg is for the first pass; a file whose image2 options only the probe knows gets its own run.
    const early = takeEarly();
    let result: DecodeResult;
    if (early && probe.formatName !== 'image2') {
      result = await early.decode(req, onFrame);
    } else {
      await early?.abandon();
      result = await decodeFrames(tools, abs, req, limits, onFrame, o.niceness);
    }
    // decodeFrames delivers each distinct index once, in order.
    const complete = result.framesReceived === distinct.length;
    // Without ffmpeg's statistics, fall back to what arrived: all requested frames -> the guess stands; otherwise
    // the stream decodes at least up to the last frame that arrived.
    const received = result.framesReceived;
    const decoded = result.framesDecoded ?? (complete ? n : received > 0 ? distinct[received - 1]! + 1 : 0);
    const trueN = Math.min(C, decoded);
    if (trueN < 1) throw new StnetError('E_VIDEO_NO_FRAMES', `No frame of ${abs} decodes (${probe.codec}, ${probe.packets} packets)`, { path: abs });
    const again = trueN !== n && sampleFrameIndices(trueN, o.segNum, o.seglen).some((v, i) => v !== indices[i]);
    if (!again && complete) {
      return {
        data,
        dims,
        info: {
          frameCount: trueN,
          width: probe.width,
          height: probe.height,
          fps: probe.fps,
          codec: probe.codec,
          frameIndices: indices,
          rotation: probe.rotation,
          durationSec: probe.durationSec,
          containerFrameCount: Number.isFinite(C) ? C : null,
          resized: pipeline.resized,
          cropOffset: pipeline.crop,
          decodePasses: passes,
        },
      };
    }
    if (passes >= 2 || !again) {
      throw new StnetError('E_VIDEO_UNDECODABLE', `Decoding ${abs} gave inconsistent frame counts (expected ${distinct.length} sampled frames, got ${received}; ${decoded} decoded)`, { path: abs });
    }
    n = trueN;
  }
}
