// Where downloaded weights live: `$STNET_HOME/weights/<file name from the URL>`, default
// `~/.cache/stnet/weights/STNET.pdparams`. A file gets its final name only after it was downloaded
// completely and validated (see download.ts), so "the final name exists" means "usable weights".
// Unfinished downloads carry a `.download-<pid>-<random>` suffix that no lookup ever matches.
import { existsSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { stnetHome } from '../env.js';

export { stnetHome };

/** The official StNet weights, newest first (docs/weights.md). */
export const OFFICIAL_WEIGHTS_BASE_URL = 'https://paddlemodels.bj.bcebos.com/video_classification/';
export const OFFICIAL_WEIGHTS_FILES = ['STNET.pdparams', 'STNET_final.pdparams'] as const;
export const OFFICIAL_WEIGHTS_URLS: readonly string[] = OFFICIAL_WEIGHTS_FILES.map((f) => OFFICIAL_WEIGHTS_BASE_URL + f);

const PARTIAL_MARK = '.download-';
/** Partial files older than this belong to a process that died; younger ones may be another download in flight. */
const STALE_PARTIAL_MS = 24 * 3600 * 1000;

export function weightsCacheDir(home?: string): string {
  return join(stnetHome(home), 'weights');
}

/**
 * The cache file name for a download URL: the last path segment, restricted to characters that are
 * safe in every file system (a mirror URL could end in anything).
 */
export function cacheFileName(url: string): string {
  let last = '';
  try {
    last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    last = '';
  }
  const safe = last.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return safe === '' ? 'weights.pdparams' : safe;
}

/** The first of `urls` whose file is already in the cache, or undefined. */
export function findCachedWeights(urls: readonly string[], home?: string): string | undefined {
  const dir = weightsCacheDir(home);
  for (const url of urls) {
    const path = join(dir, cacheFileName(url));
    if (existsSync(path) && statSync(path).isFile()) return path;
  }
  return undefined;
}

/** A temp name beside `finalPath` that no cache lookup matches. */
export function partialPathFor(finalPath: string): string {
  return `${finalPath}${PARTIAL_MARK}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

export function isPartialName(name: string): boolean {
  return name.includes(PARTIAL_MARK);
}

/** Removes partial downloads left by killed processes (best effort: the cache must never block a run). */
export function removeStalePartials(dir: string, now = Date.now()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!isPartialName(name)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_PARTIAL_MS) unlinkSync(path);
    } catch {
      // another process removed or renamed it meanwhile
    }
  }
}

/** One file in the weights cache, as `stnet cache` lists it. */
export interface CachedWeightsFile {
  readonly path: string;
  readonly bytes: number;
  /** An unfinished download (another process's in flight, or left by one that died). */
  readonly partial: boolean;
}

/** The files in `$STNET_HOME/weights`, by name. */
export function listCachedWeights(home?: string): CachedWeightsFile[] {
  const dir = weightsCacheDir(home);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: CachedWeightsFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isFile()) out.push({ path, bytes: st.size, partial: isPartialName(name) });
    } catch {
      // removed meanwhile
    }
  }
  return out;
}
