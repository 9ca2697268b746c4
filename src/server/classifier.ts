// What the server needs from a model worker. Kept to one video per call so the queue can schedule
// videos, not batches, and cancel each on its own. A loaded StNet model is adapted to this by
// `modelWorker` (serve.ts); tests can pass any object of this shape.

import type { Prediction, VideoResult } from '../classify.js';
import type { WindowResult } from '../timeline/types.js';

// The server answers exactly what `model.classify` (and the CLI's JSON output) gives.
export type ServerPrediction = Prediction;
export type ServerVideoResult = VideoResult;

export interface ServerClassifyOptions {
  readonly topK: number;
  /** Undefined: the model's default (25, as the reference). */
  readonly segNum?: number;
  /** Aborted when the client disconnects or the server shuts down: stop decoding (kill ffmpeg) and reject or report E_CANCELLED. */
  readonly signal: AbortSignal;
}

/** A timeline request: the classify options plus the window, in seconds or in frames (never both: the route checks). */
export interface ServerTimelineOptions extends ServerClassifyOptions {
  readonly windowSec?: number;
  readonly strideSec?: number;
  readonly windowFrames?: number;
  readonly strideFrames?: number;
}

export type ServerWindowResult = WindowResult;

export interface ServerClassifier {
  /** Classifies one video file; either resolves with a result (ok or not) or rejects with a StnetError. */
  classify(path: string, opts: ServerClassifyOptions): Promise<ServerVideoResult>;
  /**
   * The windows of one video file, each yielded as soon as it is classified (model.timeline). Optional so that a
   * classify-only worker still serves /v1/classify; /v1/timeline answers 501 without it. Aborting `signal` ends
   * the decode; breaking out of the loop does too.
   */
  timeline?(path: string, opts: ServerTimelineOptions): AsyncIterable<ServerWindowResult>;
  /** Releases the model (called once, at shutdown). */
  close(): Promise<void>;
}
