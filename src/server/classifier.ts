// What the server needs from a model worker. Kept to one video per call so the queue can schedule
// videos, not batches, and cancel each on its own. A loaded StNet model is adapted to this by
// `modelWorker` (serve.ts); tests can pass any object of this shape.

import type { Prediction, VideoResult } from '../classify.js';

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

export interface ServerClassifier {
  /** Classifies one video file; either resolves with a result (ok or not) or rejects with a StnetError. */
  classify(path: string, opts: ServerClassifyOptions): Promise<ServerVideoResult>;
  /** Releases the model (called once, at shutdown). */
  close(): Promise<void>;
}
