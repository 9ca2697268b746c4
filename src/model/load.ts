// The one way to get a model's bytes: for the load options, resolve the weights (src/weights/resolve.ts), then read
// the cached graph or parse the weights and build it (src/graph/). StNet.load, the server's model workers
// (through StNet's internal loadStnetModels), `stnet export-onnx` and exportOnnx all come here, so each new way to
// get a model (an int8 graph, a ready .onnx file) is added once, below, and every surface has it.
//
// Why a module of its own and not more of src/stnet.ts: getting the bytes needs no onnxruntime (export-onnx never
// starts a session), and stnet.ts is the model object that runs them.
import { StnetError, checkKnownKeys, invalidOption } from '../errors.js';
import { graphCacheEnabled, graphCachePath, readGraphCache, removeGraphCache, touchGraphCache, writeGraphCache } from '../graph/cache.js';
import { GRAPH_BUILDER_VERSION, buildStnetOnnx } from '../graph/stnet.js';
import { loadWeights } from '../weights/index.js';
import { DOWNLOAD_OPTION_KEYS, checkDownloadOptions, resolveWeights, type DownloadOptions, type WeightsSource } from '../weights/resolve.js';
import type { StnetWeights } from '../weights/types.js';

/** Where the model comes from: StNet.load's options minus those of the onnxruntime session. */
export interface ModelSourceOptions extends DownloadOptions {
  /** Weights file, module folder or archive (default: STNET_WEIGHTS, then the cache, then a download; see resolveWeights). */
  weights?: string;
  // Slots for what comes next (each is one key here, one check in checkModelSourceOptions, one branch in
  // loadModelBytes): `precision?: 'fp32' | 'int8'` (graph variant, see buildGraph) and `model?: string` (a ready
  // .onnx file, checked and used as is, see loadModelBytes).
}

/** Every key of ModelSourceOptions. */
export const MODEL_SOURCE_KEYS: readonly string[] = ['weights', ...DOWNLOAD_OPTION_KEYS];

/** ModelSourceOptions after their checks. */
export interface ResolvedModelSource extends DownloadOptions {
  readonly weights: string | undefined;
}

/** Checks the model-source options (types only: no file is touched). Unknown keys are the caller's job. */
export function checkModelSourceOptions(opts: ModelSourceOptions): ResolvedModelSource {
  if (opts.weights !== undefined && (typeof opts.weights !== 'string' || opts.weights === '')) throw invalidOption('weights', 'a non-empty path string', opts.weights);
  return { weights: opts.weights, ...checkDownloadOptions(opts) };
}

/** A model's serialized ONNX bytes (in memory, or the cache file that holds them) and what they came from. */
export interface ModelBytes {
  /**
   * The serialized ModelProto: bytes owned by the caller (they may be transferred to a session), or, for a graph-
   * cache hit, the cache file's path: onnxruntime reads it itself, so 127 MiB never pass through JavaScript memory
   * (and each of the server's sessions reads it without a copy in this process). readModelBytes gives bytes always.
   */
  readonly model: Uint8Array | string;
  /** The weights file the graph was built from; undefined when built from weights in memory. */
  readonly weightsPath: string | undefined;
  /** How the weights were found; undefined when built from weights in memory. */
  readonly weightsSource: WeightsSource | undefined;
  /** 'cache': read from the graph cache; 'built': built now from the weights. */
  readonly graph: 'cache' | 'built';
  /** The graph-cache file for these weights, when the cache is on for them. */
  readonly cachePath: string | undefined;
}

/** The graph variant: part of the cache key. int8 adds `int8:<calibration id>` here. */
function variantOf(_o: ResolvedModelSource): string {
  return 'fp32';
}

/** Builds the graph for the options' variant from parsed weights. */
function buildGraph(weights: StnetWeights, _o: ResolvedModelSource): Uint8Array {
  const fp32 = buildStnetOnnx(weights);
  // precision 'int8' slots in here: `if (o.precision === 'int8') return quantizeStnetModel(fp32, calibration)`
  // (src/graph/quantize.ts works on the serialized fp32 bytes).
  return fp32;
}

export interface LoadModelBytesOptions {
  /** Graph cache default when neither the option nor STNET_GRAPH_CACHE says: default on only for weights found in the cache or downloaded. */
  readonly cacheByDefault?: boolean;
  /** Ignore a cached graph (it was refused by onnxruntime) and build it again; the new one replaces it. */
  readonly rebuild?: boolean;
}

/**
 * The model's bytes for checked options: the cached graph when there is one, else the weights parsed and the graph
 * built (and cached when the graph cache is on for these weights). A fresh download's validation parse is reused.
 */
export async function loadModelBytes(o: ResolvedModelSource, how: LoadModelBytesOptions = {}): Promise<ModelBytes> {
  // `model: 'file.onnx'` slots in here: read it, check that it is a StNet graph this project wrote, and return
  // { bytes, weightsPath: undefined, weightsSource: undefined, graph: 'file', cachePath: undefined } (nothing cached).
  const { path, source, weights: downloaded } = await resolveWeights(o);
  const onByDefault = how.cacheByDefault ?? (source === 'cache' || source === 'download');
  const cachePath = graphCacheEnabled(o.graphCache, onByDefault) ? graphCachePath(path, o.cacheDir, variantOf(o)) : undefined;
  if (cachePath !== undefined && how.rebuild !== true && (await touchGraphCache(cachePath))) {
    return { model: cachePath, weightsPath: path, weightsSource: source, graph: 'cache', cachePath };
  }
  // A fresh download was already parsed to validate it: no second parse.
  const bytes = buildGraph(downloaded ?? (await loadWeights(path)), o);
  // Written before a session takes (transfers) the bytes; a failed write only costs the next start.
  if (cachePath !== undefined) await writeGraphCache(cachePath, bytes, { weights: path, variant: variantOf(o), builderVersion: GRAPH_BUILDER_VERSION });
  return { model: bytes, weightsPath: path, weightsSource: source, graph: 'built', cachePath };
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
export function modelBytesFromWeights(weights: StnetWeights): ModelBytes {
  return { model: buildGraph(weights, { weights: undefined }), weightsPath: undefined, weightsSource: undefined, graph: 'built', cachePath: undefined };
}

/** Checks an options object's shape and keys, for functions whose options are exactly the model source's. */
export function checkModelSourceObject(opts: unknown, keys: readonly string[] = MODEL_SOURCE_KEYS): ResolvedModelSource {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('options', 'an object', opts);
  checkKnownKeys(opts, keys);
  return checkModelSourceOptions(opts as ModelSourceOptions);
}
