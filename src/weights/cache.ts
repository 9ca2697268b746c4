// Where downloaded weights live: `$STNET_HOME/weights/<file name from the URL>`, default
// `~/.cache/stnet/weights/STNET.pdparams`. A file gets its final name only after it was downloaded
// completely and validated (see download.ts), so "the final name exists" means "usable weights".
// Unfinished downloads carry a `.download-<pid>-<random>` suffix that no lookup ever matches.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, open, readFile, rename, unlink, utimes } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { packageVersion } from '../version.js';

/** The official StNet weights, newest first (reference.md section 6.0). */
export const OFFICIAL_WEIGHTS_BASE_URL = 'https://paddlemodels.bj.bcebos.com/video_classification/';
export const OFFICIAL_WEIGHTS_FILES = ['STNET.pdparams', 'STNET_final.pdparams'] as const;
export const OFFICIAL_WEIGHTS_URLS: readonly string[] = OFFICIAL_WEIGHTS_FILES.map((f) => OFFICIAL_WEIGHTS_BASE_URL + f);

const PARTIAL_MARK = '.download-';
/** Partial files older than this belong to a process that died; younger ones may be another download in flight. */
const STALE_PARTIAL_MS = 24 * 3600 * 1000;

/** `$STNET_HOME`, default `~/.cache/stnet`. */
export function stnetHome(home?: string): string {
  const fromEnv = process.env.STNET_HOME;
  if (home !== undefined && home !== '') return resolve(home);
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return join(homedir(), '.cache', 'stnet');
}

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

// ---------------------------------------------------------------- ONNX graph cache
// Building the graph needs the parsed weights (pickle/LoDTensor parse, validation, BN folding,
// protobuf encoding); a second start can skip all of that by reading the serialized graph back.
// Measured with bench/start.mjs (fresh processes, 2 cores): see docs/cli.md. The key is the weights
// file's identity (real path, size, mtime, inode) plus the graph builder's own code, not a hash of
// the weights' bytes: hashing 127 MiB costs ~0.35 s, half of what the cache saves.

const GRAPH_DIR = 'graphs';
/** Graphs kept (each ~127 MiB); the least recently used beyond this are removed. */
export const GRAPH_CACHE_KEEP = 2;

/** Code whose output ends up in a cached graph: the graph builder, and the readers that decoded the weights. */
const GRAPH_INPUT_CODE = ['graph/stnet', 'graph/onnx', 'graph/quantize', 'graph/calibrate', 'weights/pickle', 'weights/lodtensor', 'weights/float32', 'weights/tensor'];
let builderIdMemo: string | undefined;

/** The builder's identity: a change to the graph or reader code (or a new release) must never reuse an old graph. */
function builderId(): string {
  if (builderIdMemo !== undefined) return builderIdMemo;
  const h = createHash('sha256');
  h.update(packageVersion());
  for (const name of GRAPH_INPUT_CODE) {
    // dist/ has .js; under the test runner the sources are .ts.
    const file = ['js', 'ts'].map((ext) => new URL(`../${name}.${ext}`, import.meta.url)).find((u) => existsSync(u));
    h.update(file === undefined ? `missing:${name}` : readFileSync(file));
  }
  return (builderIdMemo = h.digest('hex'));
}

/**
 * Where the graph for these weights lives, or undefined when the weights are a directory/archive we cannot stat as
 * one file. `variant` tells graphs of the same weights apart (the int8 graph: its calibration identity).
 */
export function graphCachePath(weightsPath: string, home?: string, variant?: string): string | undefined {
  let st;
  let real;
  try {
    real = realpathSync(weightsPath);
    st = statSync(real, { bigint: true });
  } catch {
    return undefined;
  }
  if (!st.isFile()) return undefined;
  const key = createHash('sha256')
    .update(JSON.stringify({ real, size: String(st.size), mtimeNs: String(st.mtimeNs), ino: String(st.ino), dev: String(st.dev), builder: builderId(), ...(variant !== undefined ? { variant } : {}) }))
    .digest('hex')
    .slice(0, 32);
  return join(stnetHome(home), GRAPH_DIR, `${key}.onnx`);
}

/** The cached graph's bytes, or undefined. Touches the file so that pruning keeps recently used graphs. */
export async function readGraphCache(path: string): Promise<Uint8Array | undefined> {
  try {
    const buf = await readFile(path);
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch {
    return undefined;
  }
}

/** Writes the graph (temp file, fsync, rename) and prunes old graphs. Best effort: a full disk must not fail a start. */
export async function writeGraphCache(path: string, model: Uint8Array): Promise<boolean> {
  const tmp = partialPathFor(path);
  try {
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(model);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch {
    await unlink(tmp).catch(() => undefined);
    return false;
  }
  pruneGraphs(dirname(path));
  return true;
}

export async function removeGraphCache(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

function pruneGraphs(dir: string): void {
  removeStalePartials(dir);
  let entries: { path: string; mtime: number }[];
  try {
    entries = readdirSync(dir)
      .filter((n) => n.endsWith('.onnx'))
      .map((n) => ({ path: join(dir, n), mtime: statSync(join(dir, n)).mtimeMs }));
  } catch {
    return;
  }
  entries.sort((a, b) => b.mtime - a.mtime);
  for (const e of entries.slice(GRAPH_CACHE_KEEP)) {
    try {
      unlinkSync(e.path);
    } catch {
      // in use by nobody (we read it whole), or already gone
    }
  }
}

/** Whether the graph cache is on: the option, else STNET_GRAPH_CACHE (0/false disables), else `fallback`. */
export function graphCacheEnabled(option: boolean | undefined, fallback: boolean): boolean {
  if (option !== undefined) return option;
  const env = process.env.STNET_GRAPH_CACHE;
  if (env === '0' || env === 'false') return false;
  if (env === '1' || env === 'true') return true;
  return fallback;
}
