// The window rule of a timeline (docs/timeline.md, issue 12 section 1). PURE arithmetic, no I/O.
//
// With N decoded frames, window length L and stride S (frames): windows start at k*S for k = 0 .. K-1 with
// K = max(1, 1 + floor((N - L) / S)) and cover [k*S, min(k*S + L, N)); if the last one ends before N, a tail
// window [N - L, N) is added so the whole video is covered; N <= L gives the one window [0, N).
// A stream's N is unknown until it ends, so WindowTracker emits each full window when its last frame has been
// decoded and the tail (or the short-video window) at the end: the same windows, in the same order.

import { StnetError, invalidOption } from '../errors.js';

/** Frames [start, end) of window `index` (0-based, in emission order). */
export interface WindowRange {
  readonly index: number;
  readonly start: number;
  readonly end: number;
}

/** Window length and stride in frames. */
export interface WindowSpec {
  readonly length: number;
  readonly stride: number;
}

/** How the user gave the windows: in seconds (default 10 s / 5 s) or in frames. */
export type WindowUnits =
  | { readonly unit: 'seconds'; readonly window: number; readonly stride: number }
  | { readonly unit: 'frames'; readonly window: number; readonly stride: number };

export interface WindowOptions {
  /** Window length in seconds (default 10). */
  windowSec?: number;
  /** Stride in seconds (default 5, or half of windowSec when only that is given). */
  strideSec?: number;
  /** Window length in frames (instead of seconds). */
  windowFrames?: number;
  /** Stride in frames (default half of windowFrames, at least 1). */
  strideFrames?: number;
}

export const WINDOW_DEFAULTS = Object.freeze({ windowSec: 10, strideSec: 5 });

/** Option names as the caller spells them (the CLI passes its flags). */
export type WindowOptionNamer = (key: keyof WindowOptions) => string;

/** Every window of an N-frame video, by the rule above. */
export function windowRanges(frameCount: number, spec: WindowSpec): WindowRange[] {
  const tracker = new WindowTracker(spec);
  const out: WindowRange[] = [];
  for (let n = 1; n <= frameCount; n++) out.push(...tracker.framesDecoded(n));
  out.push(...tracker.end(frameCount));
  return out;
}

/** Streaming form of the rule: feed it the running frame count, then the final one. */
export class WindowTracker {
  private emitted = 0;
  private lastEnd = 0;

  constructor(readonly spec: WindowSpec) {}

  /** Windows that end exactly at frame count `n` (call once per decoded frame, n = 1, 2, ...). */
  framesDecoded(n: number): WindowRange[] {
    const { length: L, stride: S } = this.spec;
    const start = n - L;
    if (start < 0 || start % S !== 0) return [];
    this.lastEnd = n;
    return [{ index: this.emitted++, start, end: n }];
  }

  /** The remaining window(s) once the stream has ended after `n` frames (none when n is 0). */
  end(n: number): WindowRange[] {
    if (n < 1) return [];
    const L = this.spec.length;
    if (this.emitted === 0) return [{ index: this.emitted++, start: 0, end: n }];
    if (this.lastEnd < n) return [{ index: this.emitted++, start: n - L, end: n }];
    return [];
  }
}

/**
 * Checks the window options before any work: both units at once, non-positive or non-finite values, frame counts
 * that are not integers, a stride below one frame, a window in frames shorter than seglen (in seconds that needs
 * the frame rate: `resolveWindowSpec` checks it).
 */
export function checkWindowOptions(opts: WindowOptions, seglen: number, name: WindowOptionNamer = (k) => k): WindowUnits {
  const sec = opts.windowSec !== undefined || opts.strideSec !== undefined;
  const frames = opts.windowFrames !== undefined || opts.strideFrames !== undefined;
  if (sec && frames) {
    const given = (['windowSec', 'strideSec', 'windowFrames', 'strideFrames'] as const).filter((k) => opts[k] !== undefined).map(name);
    throw new StnetError('E_INVALID_OPTION', `Expected the window in seconds (${name('windowSec')}, ${name('strideSec')}) or in frames (${name('windowFrames')}, ${name('strideFrames')}), not both, but received ${given.join(', ')}`);
  }
  if (frames) {
    const window = opts.windowFrames;
    if (window === undefined) throw invalidOption(name('windowFrames'), `integer >= 1 (required with ${name('strideFrames')})`, window);
    if (!Number.isInteger(window) || window < 1) throw invalidOption(name('windowFrames'), 'integer >= 1', window);
    const stride = opts.strideFrames ?? Math.max(1, Math.round(window / 2));
    if (!Number.isInteger(stride) || stride < 1) throw invalidOption(name('strideFrames'), 'integer >= 1 (a stride of at least one frame)', stride);
    if (window < seglen) throw new StnetError('E_INVALID_OPTION', `Expected a window of at least seglen (${seglen}) frames for ${name('windowFrames')} but received ${window}`);
    return { unit: 'frames', window, stride };
  }
  const window = opts.windowSec ?? WINDOW_DEFAULTS.windowSec;
  if (typeof window !== 'number' || !Number.isFinite(window) || window <= 0) throw invalidOption(name('windowSec'), 'positive number of seconds', window);
  const stride = opts.strideSec ?? (opts.windowSec === undefined ? WINDOW_DEFAULTS.strideSec : window / 2);
  if (typeof stride !== 'number' || !Number.isFinite(stride) || stride <= 0) throw invalidOption(name('strideSec'), 'positive number of seconds', stride);
  return { unit: 'seconds', window, stride };
}

/**
 * L and S in frames: seconds become L = round(window * fps), S = max(1, round(stride * fps)) with the stream's
 * average frame rate. A window shorter than one segment (seglen frames) cannot be sampled the way the model was
 * trained and is refused.
 */
export function resolveWindowSpec(units: WindowUnits, fps: number, seglen: number, name: WindowOptionNamer = (k) => k): WindowSpec {
  let length: number;
  let stride: number;
  if (units.unit === 'frames') {
    length = units.window;
    stride = units.stride;
  } else {
    if (!(fps > 0) || !Number.isFinite(fps)) {
      throw new StnetError('E_INVALID_OPTION', `The video's frame rate is unknown, so a window in seconds cannot be turned into frames; give ${name('windowFrames')} and ${name('strideFrames')} instead`);
    }
    length = Math.round(units.window * fps);
    stride = Math.max(1, Math.round(units.stride * fps));
  }
  if (length < seglen) {
    const shown = units.unit === 'frames' ? `${length}` : `${units.window} s = ${length} frames at ${round3(fps)} fps`;
    throw new StnetError('E_INVALID_OPTION', `Expected a window of at least seglen (${seglen}) frames for ${name(units.unit === 'frames' ? 'windowFrames' : 'windowSec')} but received ${shown}`);
  }
  return { length, stride };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
