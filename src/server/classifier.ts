// What the server needs from a model worker. Kept to one video per call so the queue can schedule
// videos, not batches, and cancel each on its own. A loaded StNet model is adapted to this by
// `modelWorker` (serve.ts); tests can pass any object of this shape.

export interface ServerPrediction {
  readonly label: string;
  readonly index: number;
  readonly prob: number;
}

/** The same shape as one entry of the CLI's JSON output (`model.classify(...)`'s VideoResult). */
export type ServerVideoResult =
  | {
      readonly path: string;
      readonly ok: true;
      readonly predictions: readonly ServerPrediction[];
      readonly timing: { readonly decodeMs: number; readonly inferMs: number };
    }
  | {
      readonly path: string;
      readonly ok: false;
      readonly error: { readonly code: string; readonly message: string };
    };

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
