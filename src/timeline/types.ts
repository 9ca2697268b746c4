// Result and option types of a timeline (model.timeline, `stnet timeline`).
import type { Prediction } from '../classify.js';
import type { WindowOptions } from './windows.js';

/** One window of a timeline: frames [startFrame, endFrame) of the decoded video and what the model sees in it. */
export interface WindowResult {
  /** The input as given: a file path, `-` for stdin, or a URL. */
  readonly path: string;
  /** 0-based window number, in time order. */
  readonly window: number;
  readonly startFrame: number;
  /** Exclusive. */
  readonly endFrame: number;
  /** startFrame / fps. */
  readonly startSec: number;
  /** endFrame / fps. */
  readonly endSec: number;
  /** Top-k labels, highest first. */
  readonly predictions: readonly Prediction[];
  /** With `embedding: true`: the window's 1024-value embedding (the fc layer's input). */
  readonly embedding?: readonly number[];
}

/** What is known about a stream once ffmpeg has opened it (before the first window). */
export interface TimelineStreamInfo {
  readonly path: string;
  /** Average frame rate of the video stream (ffmpeg's stream info). */
  readonly fps: number;
  /** Size of the decoded frames (after rotation). */
  readonly width: number;
  readonly height: number;
  /** Window length and stride in frames, as resolved for this stream. */
  readonly windowFrames: number;
  readonly strideFrames: number;
}

export interface TimelineOptions extends WindowOptions {
  /** Labels per window, 1..400 (default 5). */
  topK?: number;
  /** Segments sampled per window (default 25, the reference's INFER config). */
  segNum?: number;
  /** Short side after the reference's 4:3 resize (default 256). */
  shortSize?: number;
  /** Centre-crop size, <= shortSize (default 256). */
  targetSize?: number;
  /** Add each window's 1024-value embedding. Default false. */
  embedding?: boolean;
  /**
   * A stream (or a file) that gives no new frame for this long is stopped with E_STREAM_TIMEOUT; windows already
   * yielded stay valid. Default 30000 ms.
   */
  readTimeoutMs?: number;
  /** Limit until the first frame (starting ffmpeg, connecting, stream probing). Default 30000 ms. */
  connectTimeoutMs?: number;
  /** Aborting ends ffmpeg; the iteration then rejects with E_CANCELLED. */
  signal?: AbortSignal;
  /** The stream read for the input `-` (default process.stdin). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Called once the stream is open and the windows are known in frames. */
  onInfo?: (info: TimelineStreamInfo) => void;
}
