// What stnet keeps in $STNET_HOME: downloaded weights (src/weights/cache.ts), built graphs (src/graph/cache.ts)
// and, for the CLI, what it learned about the ffmpeg binaries (src/video/ffmpeg.ts). `stnet cache` lists them and
// `stnet cache clean` removes them; the CLI reaches the caches only through here.
import { statSync, unlinkSync } from 'node:fs';
import { stnetHome } from '../env.js';
import { cleanGraphs, graphCacheDir, listGraphs, type CachedGraph } from '../graph/cache.js';
import { ffmpegRecordPath, keepFfmpegRecord, leftoverRecordTemps, saveFfmpegRecord } from '../video/ffmpeg.js';
import { listCachedWeights, weightsCacheDir, type CachedWeightsFile } from '../weights/cache.js';

export type { CachedGraph, CachedWeightsFile };

export interface CacheContents {
  /** $STNET_HOME (or the cacheDir given). */
  readonly home: string;
  readonly weightsDir: string;
  readonly graphsDir: string;
  readonly weights: readonly CachedWeightsFile[];
  readonly graphs: readonly CachedGraph[];
  /** The ffmpeg record (versions of the binaries last found) with its size, when there is one. */
  readonly tools: { readonly path: string; readonly bytes: number } | undefined;
}

export function cacheContents(home?: string): CacheContents {
  return {
    home: stnetHome(home),
    weightsDir: weightsCacheDir(home),
    graphsDir: graphCacheDir(home),
    weights: listCachedWeights(home),
    graphs: listGraphs(home),
    tools: toolRecord(home),
  };
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function toolRecord(home: string | undefined): { path: string; bytes: number } | undefined {
  const path = ffmpegRecordPath(home);
  try {
    return { path, bytes: statSync(path).size };
  } catch {
    return undefined;
  }
}

/**
 * For processes that start fresh each time (the CLI): trust $STNET_HOME/tools/ffmpeg.json for the ffmpeg binaries
 * it names, so a process that finds the same files need not run them to learn their versions; `false` stops it
 * (the default). saveToolRecord writes what this process learned.
 */
export function keepToolRecord(on: boolean): void {
  keepFfmpegRecord(on ? ffmpegRecordPath() : undefined);
}

/** Writes what this process learned about the ffmpeg binaries (after keepToolRecord(true)). */
export { saveFfmpegRecord as saveToolRecord };

export interface CleanOptions {
  /** Keep the downloaded weights, remove only the graphs (rebuilt from the weights on the next start). */
  readonly graphsOnly?: boolean;
}

/**
 * Removes the cached graphs, downloaded weights and the ffmpeg record with any temp file a killed writer left (or
 * only the graphs); returns what was freed.
 */
export function cleanCache(home: string | undefined, opts: CleanOptions = {}): { files: number; bytes: number } {
  const before = cacheContents(home);
  let files = before.graphs.length;
  let bytes = cleanGraphs(home);
  if (opts.graphsOnly !== true) {
    const temps = leftoverRecordTemps(home).map((path) => ({ path, bytes: sizeOf(path) }));
    for (const f of [...(before.tools ? [before.tools] : []), ...temps, ...before.weights]) {
      try {
        unlinkSync(f.path);
        files++;
        bytes += f.bytes;
      } catch {
        // removed meanwhile
      }
    }
  }
  return { files, bytes };
}
