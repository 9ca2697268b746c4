// The messages between ModelSession (src/graph/session.ts, main thread) and its onnxruntime worker thread
// (src/graph/ort-worker.ts), typed once for both sides.
import type { InferenceSession } from 'onnxruntime-node';

/** The worker's workerData. */
export interface WorkerInit {
  /**
   * Serialized ONNX model, or the path of a model file (onnxruntime reads it natively). Bytes are handed back to
   * the main thread once the session holds its own copy (see 'ready').
   */
  readonly model: Uint8Array | string;
  readonly options: InferenceSession.SessionOptions;
}

export type ToWorker =
  /**
   * Run on the input in the shared buffer: `length` float32 values, shape `dims`. `buffer` is sent when the main
   * thread replaced (grew) its shared input buffer; otherwise the last one is reused.
   */
  | { readonly type: 'run'; readonly id: number; readonly dims: readonly number[]; readonly length: number; readonly buffer?: SharedArrayBuffer }
  /**
   * Run on `data`, whose buffer was transferred to this thread (the caller handed it over): no copy on either
   * side, and the input is garbage once the run is done.
   */
  | { readonly type: 'run'; readonly id: number; readonly dims: readonly number[]; readonly data: Float32Array }
  /** Release the session; answered with 'closed'. */
  | { readonly type: 'close' };

export type FromWorker =
  /**
   * The session exists. `model` is the model's buffer transferred back to the main thread (which drops it): the
   * worker then holds no reference to the bytes, and the idle worker need not collect garbage to free them.
   */
  | { readonly type: 'ready'; readonly inputNames: readonly string[]; readonly outputNames: readonly string[]; readonly model?: ArrayBuffer }
  | { readonly type: 'failed'; readonly error: string }
  /**
   * `input`: the buffer of a handed-over input, transferred back once the run is done with it, so that the main
   * thread can decode the next video into it (ModelSession.takeSpareInput).
   */
  | { readonly type: 'result'; readonly id: number; readonly outputs: Readonly<Record<string, Float32Array>>; readonly input?: ArrayBuffer }
  | { readonly type: 'result'; readonly id: number; readonly error: string }
  | { readonly type: 'closed' };
