// The one way to get a model's bytes: for the load options, resolve the weights (src/weights/resolve.ts), then read
// the cached graph or parse the weights and build it (src/graph/). StNet.load, the server's model workers
// (through StNet's internal loadStnetModels), `stnet export-onnx` and exportOnnx all come here, so each new way to
// get a model (an int8 graph, a ready .onnx file) is added once, below, and every surface has it.
//
// Why a module of its own and not more of src/stnet.ts: getting the bytes needs no onnxruntime (export-onnx never
// starts a session), and stnet.ts is the model object that runs them.
import { availableParallelism } from 'node:os';
import { StnetError, checkKnownKeys, invalidOption } from '../errors.js';
import { graphCacheEnabled, graphCachePath, readGraphCache, removeGraphCache, touchGraphCache, writeGraphCache } from '../graph/cache.js';
import { GRAPH_BUILDER_VERSION, buildStnetOnnx } from '../graph/stnet.js';
import { DOWNLOAD_OPTION_KEYS, checkDownloadOptions, resolveWeights, type DownloadOptions, type WeightsSource } from '../weights/resolve.js';
import type { StnetWeights } from '../weights/types.js';
import { readStnetModel } from '../graph/model-file.js';
import { QUANTIZER_VERSION } from '../graph/quantize.js';
import { buildGraphInWorker } from './build.js';
import { buildInt8Model, calibrationIdentity } from './quantize.js';

/** Numeric precision of the graph: fp32 (default), or int8 (QDQ, calibrated; see docs/model.md "int8"). */
export type Precision = 'fp32' | 'int8';
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8'];

/** Where the model comes from: StNet.load's options minus those of the onnxruntime session. */
export interface ModelSourceOptions extends DownloadOptions {
  /** Weights file, module folder or archive (default: STNET_WEIGHTS, then the cache, then a download; see resolveWeights). */
  weights?: string;
  /** 'fp32' (default) or 'int8': the graph quantized with ranges calibrated on `calibration` (CPU only). */
  precision?: Precision;
  /** int8 calibration videos (default: the bundled example clip). The int8 graph is cached per weights and calibration. */
  calibration?: readonly string[];
  /** A graph written by `stnet export-onnx` or `stnet quantize` to run instead of building one from weights. */
  model?: string;
}

/** Every key of ModelSourceOptions. */
export const MODEL_SOURCE_KEYS: readonly string[] = ['weights', 'precision', 'calibration', 'model', ...DOWNLOAD_OPTION_KEYS];

/** ModelSourceOptions after their checks. */
export interface ResolvedModelSource extends DownloadOptions {
  readonly weights: string | undefined;
  /** undefined: not asked for (fp32 from weights; a model file's own precision). */
  readonly precision: Precision | undefined;
  readonly calibration: readonly string[] | undefined;
  readonly model: string | undefined;
}

/** Checks the model-source options (types only: no file is touched). Unknown keys are the caller's job. */
export function checkModelSourceOptions(opts: ModelSourceOptions): ResolvedModelSource {
  if (opts.weights !== undefined && (typeof opts.weights !== 'string' || opts.weights === '')) throw invalidOption('weights', 'a non-empty path string', opts.weights);
  const precision = opts.precision;
  if (precision !== undefined && !PRECISIONS.includes(precision)) throw invalidOption('precision', PRECISIONS.map((p) => JSON.stringify(p)).join(' or '), precision);
  if (opts.model !== undefined && (typeof opts.model !== 'string' || opts.model === '')) throw invalidOption('model', 'a non-empty path string', opts.model);
  if (opts.model !== undefined && opts.weights !== undefined) throw new StnetError('E_INVALID_OPTION', 'give either model (a graph file) or weights, not both');
  const cal: unknown = opts.calibration;
  if (cal !== undefined && (!Array.isArray(cal) || cal.length === 0 || cal.some((p) => typeof p !== 'string' || p === ''))) {
    throw invalidOption('calibration', 'a non-empty array of video paths', Array.isArray(cal) ? JSON.stringify(cal) : cal);
  }
  if (cal !== undefined && (precision !== 'int8' || opts.model !== undefined)) {
    throw new StnetError('E_INVALID_OPTION', "calibration only applies to precision 'int8' built from weights (not with fp32 or a model file)");
  }
  return { weights: opts.weights, precision, calibration: opts.calibration, model: opts.model, ...checkDownloadOptions(opts) };
}

/** A model's serialized ONNX bytes (in memory, or the cache file that holds them) and what they came from. */
export interface ModelBytes {
  /**
   * The serialized ModelProto: bytes owned by the caller (they may be transferred to a session), or, for a graph
   * in the cache (a hit, or one just built and written there), the cache file's path: onnxruntime reads it
   * itself, so 127 MiB never pass through JavaScript memory (and each of the server's sessions reads it without a
   * copy in this process). readModelBytes gives bytes always.
   */
  readonly model: Uint8Array | string;
  /** The weights file the graph was built from; undefined when built from weights in memory. */
  readonly weightsPath: string | undefined;
  /** How the weights were found; undefined when built from weights in memory. */
  readonly weightsSource: WeightsSource | undefined;
  /** 'cache': read from the graph cache; 'built': built now from the weights; 'file': a model file (`model`). */
  readonly graph: 'cache' | 'built' | 'file';
  /** The graph's precision. */
  readonly precision: Precision;
  /** The graph-cache file for these weights, when the cache is on for them. */
  readonly cachePath: string | undefined;
}

/**
 * The int8 graph's cache variant: the quantizer's version (src/graph/quantize.ts; the fp32 builder's version is in
 * the key already) and what it was calibrated on (calibrationIdentity).
 */
export function int8Variant(calibration: string): string {
  return `int8:q${QUANTIZER_VERSION}:${calibration}`;
}

/** The graph variant: part of the cache key (the int8 graph's includes what it was calibrated on). */
function variantOf(o: ResolvedModelSource): string {
  return o.precision === 'int8' ? int8Variant(calibrationIdentity(o.calibration !== undefined ? { calibration: o.calibration } : {})) : 'fp32';
}

/** Builds the graph for the options' variant from parsed weights (int8: calibrated on the fp32 graph, then quantized). */
async function buildGraph(weights: StnetWeights, o: ResolvedModelSource, threads: number | undefined): Promise<Uint8Array> {
  return toVariant(buildStnetOnnx(weights), o, threads);
}

/** The fp32 graph as the options' variant: itself, or int8 (calibrated on it, then quantized). */
async function toVariant(fp32: Uint8Array, o: ResolvedModelSource, threads: number | undefined): Promise<Uint8Array> {
  if (o.precision !== 'int8') return fp32;
  return buildInt8Model(fp32, {
    threads: threads ?? availableParallelism(),
    ...(o.calibration !== undefined ? { calibration: o.calibration } : {}),
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
  });
}

export interface LoadModelBytesOptions {
  /** Graph cache default when neither the option nor STNET_GRAPH_CACHE says: default on only for weights found in the cache or downloaded. */
  readonly cacheByDefault?: boolean;
  /** Ignore a cached graph (it was refused by onnxruntime) and build it again; the new one replaces it. */
  readonly rebuild?: boolean;
  /** onnxruntime threads for the int8 calibration runs (default: all cores). */
  readonly threads?: number;
}

/**
 * The model's bytes for checked options: the cached graph when there is one, else the weights parsed and the graph
 * built (and cached when the graph cache is on for these weights). A fresh download's validation parse is reused.
 */
export async function loadModelBytes(o: ResolvedModelSource, how: LoadModelBytesOptions = {}): Promise<ModelBytes> {
  if (o.model !== undefined) {
    // A graph file: checked as a StNet graph this project wrote, never cached (it is a file already).
    const file = await readStnetModel(o.model);
    if (o.precision !== undefined && o.precision !== file.precision) {
      throw new StnetError('E_INVALID_OPTION', `precision ${JSON.stringify(o.precision)} was asked for, but ${o.model} is a ${file.precision} graph; drop precision or give the other file`, { path: o.model });
    }
    return { model: file.bytes, weightsPath: undefined, weightsSource: undefined, graph: 'file', cachePath: undefined, precision: file.precision };
  }
  const precision = o.precision ?? 'fp32';
  const { path, source, weights: downloaded } = await resolveWeights(o);
  // An int8 graph costs a calibration run to build: cached for explicit weights too (its key covers the file).
  const onByDefault = precision === 'int8' || (how.cacheByDefault ?? (source === 'cache' || source === 'download'));
  const cachePath = graphCacheEnabled(o.graphCache, onByDefault) ? graphCachePath(path, o.cacheDir, variantOf(o)) : undefined;
  if (cachePath !== undefined && how.rebuild !== true && (await touchGraphCache(cachePath))) {
    return { model: cachePath, weightsPath: path, weightsSource: source, graph: 'cache', cachePath, precision };
  }
  const info = { weights: path, variant: variantOf(o), builderVersion: GRAPH_BUILDER_VERSION };
  let bytes: Uint8Array;
  if (downloaded !== undefined) {
    // A fresh download was already parsed to validate it: no second parse.
    bytes = await buildGraph(downloaded, o, how.threads);
  } else {
    // Parsed and built in a thread of its own (src/model/build.ts says why), which writes the fp32 graph to the
    // cache itself; the int8 graph is quantized here from the fp32 bytes and cached below.
    const fp32Cache = precision === 'fp32' && cachePath !== undefined ? { path: cachePath, info } : undefined;
    const built = await buildGraphInWorker(path, fp32Cache, o.signal);
    if (built.written) return { model: cachePath!, weightsPath: path, weightsSource: source, graph: 'built', cachePath, precision };
    // fp32 with a cache: the thread's write failed already (a full disk?), no second try.
    if (fp32Cache !== undefined) return { model: built.bytes, weightsPath: path, weightsSource: source, graph: 'built', cachePath, precision };
    bytes = await toVariant(built.bytes, o, how.threads);
  }
  // Written before a session takes (transfers) the bytes; a failed write only costs the next start. Once written,
  // the file is what the sessions open, as on a warm start: onnxruntime reads it faster than bytes handed over
  // (measured 432-535 ms against 535-660 ms for the 127 MiB graph, the optimized copy saved on the way, so the
  // next start is warm at once), and the built bytes can be freed before the session's own copy exists.
  if (cachePath !== undefined && (await writeGraphCache(cachePath, bytes, info))) {
    return { model: cachePath, weightsPath: path, weightsSource: source, graph: 'built', cachePath, precision };
  }
  return { model: bytes, weightsPath: path, weightsSource: source, graph: 'built', cachePath, precision };
}

/** The model's bytes, read from the cache file when that is where they are. */
export async function readModelBytes(m: ModelBytes): Promise<Uint8Array> {
  if (typeof m.model !== 'string') return m.model;
  const bytes = await readGraphCache(m.model);
  if (bytes === undefined) throw new StnetError('E_RUNTIME', `the cached graph ${m.model} disappeared while in use: run the command again`, { path: m.model });
  return bytes;
}

/** A cached graph that onnxruntime refused: removed, so that the next load builds it again. */
export async function discardCachedGraph(m: ModelBytes): Promise<void> {
  if (m.graph === 'cache' && m.cachePath !== undefined) await removeGraphCache(m.cachePath);
}

/** The model's bytes for weights already in memory (StNet.fromWeights, exportOnnx): always built, never cached. */
export async function modelBytesFromWeights(weights: StnetWeights, precision: Precision = 'fp32', threads?: number): Promise<ModelBytes> {
  const o: ResolvedModelSource = { weights: undefined, precision, calibration: undefined, model: undefined };
  return { model: await buildGraph(weights, o, threads), weightsPath: undefined, weightsSource: undefined, graph: 'built', cachePath: undefined, precision };
}

/** Checks an options object's shape and keys, for functions whose options are exactly the model source's. */
export function checkModelSourceObject(opts: unknown, keys: readonly string[] = MODEL_SOURCE_KEYS): ResolvedModelSource {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('options', 'an object', opts);
  checkKnownKeys(opts, keys);
  return checkModelSourceOptions(opts as ModelSourceOptions);
}
