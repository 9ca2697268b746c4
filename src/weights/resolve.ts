// Where the weights come from when the caller did not pass loaded weights, in this order:
//   1. the explicit option (CLI --weights)
//   2. STNET_WEIGHTS
//   3. the cache, $STNET_HOME/weights (default ~/.cache/stnet/weights)
//   4. a download of the official weights (or --weights_url / STNET_WEIGHTS_URL) into the cache
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { envWeights, envWeightsUrl } from '../env.js';
import { StnetError, checkInteger, invalidOption } from '../errors.js';
import { OFFICIAL_WEIGHTS_URLS, findCachedWeights, weightsCacheDir } from './cache.js';
import { downloadWeights, type DownloadProgress } from './download.js';
import type { StnetWeights } from './types.js';

export type { DownloadProgress } from './download.js';

/** The download and cache part of the options, shared with StNet.load. */
export interface DownloadOptions {
  /** Download from this URL instead of the official ones (default: STNET_WEIGHTS_URL). */
  weightsUrl?: string;
  /** Cache root instead of $STNET_HOME / ~/.cache/stnet. */
  cacheDir?: string;
  /** false: never download; a missing cache is an E_WEIGHTS_NOT_FOUND error. Default true. */
  download?: boolean;
  /** Connect / stall timeout of the download in ms (default STNET_DOWNLOAD_TIMEOUT_MS, else 15000). */
  downloadTimeoutMs?: number;
  onDownloadStart?: (url: string, totalBytes: number | undefined) => void;
  onDownloadProgress?: (p: DownloadProgress) => void;
  /**
   * Keep the built ONNX graph in $STNET_HOME/graphs so the next start skips parsing the weights and building
   * the graph. Default: on for weights from the cache or a download, off for explicit paths; STNET_GRAPH_CACHE=0|1
   * changes the default.
   */
  graphCache?: boolean;
  /** Cancels a download in progress (the partial file is removed) with E_CANCELLED. */
  signal?: AbortSignal;
}

export const DOWNLOAD_OPTION_KEYS: readonly (keyof DownloadOptions)[] = [
  'weightsUrl',
  'cacheDir',
  'download',
  'downloadTimeoutMs',
  'onDownloadStart',
  'onDownloadProgress',
  'graphCache',
  'signal',
];

export interface ResolveWeightsOptions extends DownloadOptions {
  /** Explicit path (file, directory or archive). */
  weights?: string;
  /** Download even when weights are given or cached, replacing the cached file (`stnet weights download`). */
  forceDownload?: boolean;
  /** Called when a download is complete and its validation (a full parse) starts. */
  onValidate?: () => void;
}

/** Picks and checks the download options out of a larger option object (unknown keys are the caller's job). */
export function checkDownloadOptions(opts: DownloadOptions): DownloadOptions {
  const out: DownloadOptions = {};
  for (const key of ['weightsUrl', 'cacheDir'] as const) {
    const v = opts[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') throw invalidOption(key, 'non-empty string', v);
    out[key] = v;
  }
  for (const key of ['download', 'graphCache'] as const) {
    const v = opts[key];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw invalidOption(key, 'boolean', v);
    out[key] = v;
  }
  if (opts.downloadTimeoutMs !== undefined) out.downloadTimeoutMs = checkInteger('downloadTimeoutMs', opts.downloadTimeoutMs, 1);
  for (const key of ['onDownloadStart', 'onDownloadProgress'] as const) {
    const v = opts[key];
    if (v === undefined) continue;
    if (typeof v !== 'function') throw invalidOption(key, 'function', v);
  }
  if (opts.onDownloadStart !== undefined) out.onDownloadStart = opts.onDownloadStart;
  if (opts.onDownloadProgress !== undefined) out.onDownloadProgress = opts.onDownloadProgress;
  if (opts.signal !== undefined) {
    if (!(opts.signal instanceof AbortSignal)) throw invalidOption('signal', 'AbortSignal', opts.signal);
    out.signal = opts.signal;
  }
  return out;
}

export type WeightsSource = 'option' | 'env' | 'cache' | 'download';

export interface ResolvedWeights {
  readonly path: string;
  readonly source: WeightsSource;
  /** After a download: the weights its validation parsed, so that the caller need not parse the file again. */
  readonly weights?: StnetWeights;
}

/** The download URLs in effect: the option, else STNET_WEIGHTS_URL, else the official list. */
export function weightsUrls(weightsUrl?: string): readonly string[] {
  const url = nonEmpty(weightsUrl) ?? envWeightsUrl();
  return url !== undefined ? [url] : OFFICIAL_WEIGHTS_URLS;
}

/** The weights to use, found in the order at the top of this file; may download (and then validates the file). */
export async function resolveWeights(opts: ResolveWeightsOptions = {}): Promise<ResolvedWeights> {
  const urls = weightsUrls(opts.weightsUrl);
  const dir = weightsCacheDir(opts.cacheDir);
  if (opts.forceDownload !== true) {
    const explicit = nonEmpty(opts.weights);
    if (explicit !== undefined) return { path: mustExist(explicit, 'the weights option (--weights)'), source: 'option' };
    const fromEnv = envWeights();
    if (fromEnv !== undefined) return { path: mustExist(fromEnv, 'STNET_WEIGHTS'), source: 'env' };
    const cached = findCachedWeights(urls, opts.cacheDir);
    if (cached !== undefined) return { path: cached, source: 'cache' };
  }
  if (opts.download === false) {
    throw new StnetError(
      'E_WEIGHTS_NOT_FOUND',
      `no weights given and none in the cache ${dir}: run "stnet weights download", pass --weights <file> (library: { weights }) or set STNET_WEIGHTS`,
      { path: dir },
    );
  }
  // Imported here, not at the top: the parsers are only needed for a download's validation.
  const { loadWeights } = await import('./index.js');
  let weights: StnetWeights | undefined;
  const path = await downloadWeights({
    urls,
    dir,
    timeoutMs: opts.downloadTimeoutMs,
    onStart: opts.onDownloadStart,
    onProgress: opts.onDownloadProgress,
    signal: opts.signal,
    validate: async (p) => {
      opts.onValidate?.();
      weights = await loadWeights(p);
    },
  });
  return weights === undefined ? { path, source: 'download' } : { path, source: 'download', weights };
}

function mustExist(path: string, from: string): string {
  const abs = resolve(path);
  if (!existsSync(abs)) {
    throw new StnetError('E_WEIGHTS_NOT_FOUND', `weights not found: ${abs} (from ${from}); check the path, or leave it unset to use the official weights`, {
      path: abs,
    });
  }
  return abs;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}
