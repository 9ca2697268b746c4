// Public surface of stnet-kinetics400. Everything a user imports comes from here; the folders behind it follow the
// data: weights/ (bytes -> named tensors), graph/ (tensors -> ONNX -> onnxruntime), video/ + transforms/ (file ->
// frames -> tensor), classify.ts (probabilities -> labels), cli/ and server/ (surfaces).

// The model: load weights, predict on tensors, classify video files.
export { StNet } from './stnet.js';
export type { Precision, StNetLoadOptions, StNetOutputs } from './stnet.js';

// Classification results (library, CLI JSON and HTTP service share these shapes).
export { CLASSIFY_DEFAULTS, topK } from './classify.js';
export type {
  ClassifyOptions,
  ClassifyProgress,
  HubInput,
  HubResult,
  Prediction,
  VideoResult,
  VideoTiming,
} from './classify.js';

// Timelines of long videos and streams (model.timeline): the window rule and the output formats.
export { windowRanges, WINDOW_DEFAULTS } from './timeline/windows.js';
export type { WindowRange, WindowSpec, WindowOptions } from './timeline/windows.js';
export type { WindowResult, TimelineOptions, TimelineStreamInfo } from './timeline/types.js';
export { timelineFormatter, labelRuns, TIMELINE_FORMATS } from './timeline/format.js';
export type { TimelineFormat, LabelRun } from './timeline/format.js';

// Video file -> normalized super-image tensor, exactly as the reference's reader builds it.
export { loadVideo, LOAD_VIDEO_DEFAULTS, resolveLoadVideoOptions } from './video/load-video.js';
export type { Clip, LoadVideoOptions, VideoInfo } from './video/load-video.js';
export { findFfmpeg } from './video/ffmpeg.js';
export type { FfmpegInfo, FfmpegSource } from './video/ffmpeg.js';
// ... and its steps, as small pure functions (frame indices, Pillow-exact resize, crop, normalize, layout).
export { sampleFrameIndices } from './video/sample.js';
export { groupScaleSize, resizeBilinear, makeBilinearResizer } from './transforms/resize.js';
export type { RgbImage } from './transforms/resize.js';
export { centerCropOffsets, cropRgb } from './transforms/crop.js';
export { normalizeToChw, IMAGE_MEAN, IMAGE_STD } from './transforms/normalize.js';
export { packSuperImage, clipDims } from './transforms/layout.js';

// Weights: every format the official StNet weights were published in, validated against the 301-parameter table.
export { loadWeights, validateStnetWeights, detectFormat, STNET_PARAMS, STNET_SORTED_NAMES } from './weights/index.js';
export type { StnetWeights, Float32Param, StnetParamSpec, WeightsFormat } from './weights/index.js';
// Low-level readers for other Paddle files (any LoDTensor file, any pickle of numpy arrays).
export { readLodTensorStream, readLodTensorRecord, decodeLodTensorRecord, readPickleArrays } from './weights/index.js';
export type { LodTensorRecord, NdArray, DType } from './weights/index.js';
export { resolveWeights, weightsUrls } from './weights/resolve.js';
export type { DownloadOptions, DownloadProgress, ResolvedWeights, WeightsSource } from './weights/resolve.js';

// The graph for other runtimes.
export { buildStnetOnnx } from './graph/stnet.js';
export { exportOnnx } from './model/export.js';

// The HTTP service, loaded by its first call: fastify and its plugins would cost every library user who only
// classifies ~12 MB of RSS at import (test/cli/startup.test.ts). All three are async anyway.
import type * as ServerApp from './server/app.js';
import type * as ServerServe from './server/serve.js';
export const buildServer: typeof ServerApp.buildServer = async (...args) => (await import('./server/app.js')).buildServer(...args);
export const shutdownServer: typeof ServerApp.shutdownServer = async (...args) => (await import('./server/app.js')).shutdownServer(...args);
export const startServer: typeof ServerServe.startServer = async (...args) => (await import('./server/serve.js')).startServer(...args);
export type { BuildServerOptions } from './server/app.js';
export type { ServeOptions, RunningServer } from './server/serve.js';

// Errors: one class, stable codes.
export { StnetError, ERROR_CODES, isStnetError } from './errors.js';
export type { StnetErrorCode, ErrorCodeInfo } from './errors.js';

// Labels: the 400 Kinetics class names in class-id order.
export { KINETICS400_LABELS } from './labels/kinetics400.js';
