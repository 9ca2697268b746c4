// The ONNX graph cache: `$STNET_HOME/graphs/<key>.onnx`. Building the graph needs the parsed weights (pickle or
// LoDTensor parse, validation, BN folding, protobuf encoding); a second start reads the serialized graph back
// instead. The key is GRAPH_BUILDER_VERSION (bumped when the builder's output changes; a test pins it), the
// weights file's identity (real path, size, mtime, inode, device) and the graph variant (precision and, for int8,
// the calibration's identity), not a hash of the weights' bytes: hashing 127 MiB costs ~0.35 s, half of what the
// cache saves. Because the key covers the file's identity, an explicit weights path is as safe as a cached one.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, realpathSync, statSync, unlinkSync, type BigIntStats } from 'node:fs';
import { mkdir, open, readFile, rename, unlink, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { envGraphCache, stnetHome } from '../env.js';
import { partialPathFor, removeStalePartials } from '../weights/cache.js';
import { GRAPH_BUILDER_VERSION } from './stnet.js';

const GRAPH_DIR = 'graphs';
/** Graphs kept (each ~127 MiB for fp32); the least recently used beyond this are removed. */
export const GRAPH_CACHE_KEEP = 2;

/** `$STNET_HOME/graphs`. */
export function graphCacheDir(home?: string): string {
  return join(stnetHome(home), GRAPH_DIR);
}

/** What a cached graph was built from; written beside it as `<key>.json` so that `stnet cache` can say. */
export interface GraphCacheInfo {
  readonly weights: string;
  /** 'fp32', or e.g. 'int8:<calibration id>' (the int8 path adds its own variants). */
  readonly variant: string;
  readonly builderVersion: number;
}

/**
 * Where the graph for these weights (and variant) lives, or undefined when the weights are a directory or archive
 * member we cannot identify as one file (no caching then).
 */
export function graphCachePath(weightsPath: string, home?: string, variant = 'fp32'): string | undefined {
  let st: BigIntStats;
  let real: string;
  try {
    real = realpathSync(weightsPath);
    st = statSync(real, { bigint: true });
  } catch {
    return undefined;
  }
  if (!st.isFile()) return undefined;
  const key = createHash('sha256')
    .update(JSON.stringify({ builder: GRAPH_BUILDER_VERSION, variant, real, size: String(st.size), mtimeNs: String(st.mtimeNs), ino: String(st.ino), dev: String(st.dev) }))
    .digest('hex')
    .slice(0, 32);
  return join(graphCacheDir(home), `${key}.onnx`);
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

/**
 * onnxruntime's optimized form of a cached graph (its 'all' level: constant folding, fusions, the NCHWc conv layout),
 * saved by the first session and loaded by later ones with optimization off: no optimization at start-up, and the
 * session does not hold the plain weights beside their reordered NCHWc copies (178 MB less RSS for fp32; see
 * docs/model.md "Memory"). NCHWc blocks depend on the CPU's vector width and the saved form on onnxruntime's version,
 * so `tag` (src/graph/session.ts) names both; it never depends on thread counts. Undefined for a path that is not a
 * graph of this cache (only our own cache files get siblings).
 */
export function optimizedGraphPath(graphPath: string, tag: string): string | undefined {
  if (!/^[0-9a-f]{32}\.onnx$/.test(basename(graphPath)) || basename(dirname(graphPath)) !== GRAPH_DIR) return undefined;
  const t = createHash('sha256').update(tag).digest('hex').slice(0, 12);
  return graphPath.replace(/\.onnx$/, `.opt-${t}${OPTIMIZED_EXT}`);
}

/** Not `.onnx`: the optimized copies are not graphs of their own for listing and pruning; they go with their graph. */
const OPTIMIZED_EXT = '.ortopt';

/** The optimized copies of one cached graph (any tag). */
function optimizedSiblings(graphPath: string): string[] {
  const stem = basename(graphPath).replace(/\.onnx$/, '.opt-');
  try {
    return readdirSync(dirname(graphPath))
      .filter((n) => n.startsWith(stem) && n.endsWith(OPTIMIZED_EXT))
      .map((n) => join(dirname(graphPath), n));
  } catch {
    return [];
  }
}

/** Removes a broken optimized copy (onnxruntime refused it): the next start saves it again. */
export async function removeOptimizedGraph(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

function infoPath(graphPath: string): string {
  return graphPath.replace(/\.onnx$/, '.json');
}

/**
 * Whether the cached graph exists (a non-empty file); touches it so that pruning keeps recently used graphs. The
 * caller hands the path to onnxruntime, which reads the file itself.
 */
export async function touchGraphCache(path: string): Promise<boolean> {
  try {
    const now = new Date();
    await utimes(path, now, now);
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}

/** Writes the graph (temp file, fsync, rename) and prunes old graphs. Best effort: a full disk must not fail a start. */
export async function writeGraphCache(path: string, model: Uint8Array, info?: GraphCacheInfo): Promise<boolean> {
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
  if (info !== undefined) await writeFile(infoPath(path), `${JSON.stringify(info)}\n`).catch(() => undefined);
  pruneGraphs(dirname(path));
  return true;
}

export async function removeGraphCache(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
  for (const o of optimizedSiblings(path)) await unlink(o).catch(() => undefined);
  await unlink(infoPath(path)).catch(() => undefined);
}

/** One cached graph, as `stnet cache` lists it. */
export interface CachedGraph {
  readonly path: string;
  readonly bytes: number;
  /** Last use (the file is touched on every cache hit). */
  readonly usedAt: Date;
  /** Undefined for graphs written before the info files existed, or when the info file is unreadable. */
  readonly info: GraphCacheInfo | undefined;
}

/** The cached graphs, most recently used first. */
export function listGraphs(home?: string): CachedGraph[] {
  const dir = graphCacheDir(home);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.onnx'));
  } catch {
    return [];
  }
  const out: CachedGraph[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      out.push({ path, bytes: st.size, usedAt: st.mtime, info: readInfo(path) });
    } catch {
      // removed meanwhile
    }
  }
  return out.sort((a, b) => b.usedAt.getTime() - a.usedAt.getTime());
}

function readInfo(graphPath: string): GraphCacheInfo | undefined {
  try {
    const parsed = JSON.parse(readFileSync(infoPath(graphPath), 'utf8')) as Partial<GraphCacheInfo>;
    if (typeof parsed.weights !== 'string' || typeof parsed.variant !== 'string' || typeof parsed.builderVersion !== 'number') return undefined;
    return { weights: parsed.weights, variant: parsed.variant, builderVersion: parsed.builderVersion };
  } catch {
    return undefined;
  }
}


/** Removes every cached graph, its info file and unfinished writes; returns the bytes freed. */
export function cleanGraphs(home?: string): number {
  const dir = graphCacheDir(home);
  let freed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!/\.(onnx|json|ortopt)$/.test(name) && !name.includes('.download-')) continue;
    const path = join(dir, name);
    try {
      freed += statSync(path).size;
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
  return freed;
}

function pruneGraphs(dir: string): void {
  removeStalePartials(dir);
  for (const g of readGraphs(dir).slice(GRAPH_CACHE_KEEP)) {
    for (const f of [g, infoPath(g), ...optimizedSiblings(g)]) {
      try {
        unlinkSync(f);
      } catch {
        // in use by nobody (we read it whole), or already gone
      }
    }
  }
}

/** Graph files in `dir`, most recently used first. */
function readGraphs(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.onnx'))
      .map((n) => ({ path: join(dir, n), mtime: statSync(join(dir, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime)
      .map((e) => e.path);
  } catch {
    return [];
  }
}

/** Whether the graph cache is on: the option, else STNET_GRAPH_CACHE (0/false off, 1/true on), else `fallback`. */
export function graphCacheEnabled(option: boolean | undefined, fallback: boolean): boolean {
  return option ?? envGraphCache() ?? fallback;
}
