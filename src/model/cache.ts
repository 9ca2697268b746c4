// What stnet keeps in $STNET_HOME: downloaded weights (src/weights/cache.ts) and built graphs (src/graph/cache.ts).
// `stnet cache` lists both and `stnet cache clean` removes them; the CLI reaches the caches only through here.
import { unlinkSync } from 'node:fs';
import { stnetHome } from '../env.js';
import { cleanGraphs, graphCacheDir, listGraphs, type CachedGraph } from '../graph/cache.js';
import { listCachedWeights, weightsCacheDir, type CachedWeightsFile } from '../weights/cache.js';

export type { CachedGraph, CachedWeightsFile };

export interface CacheContents {
  /** $STNET_HOME (or the cacheDir given). */
  readonly home: string;
  readonly weightsDir: string;
  readonly graphsDir: string;
  readonly weights: readonly CachedWeightsFile[];
  readonly graphs: readonly CachedGraph[];
}

export function cacheContents(home?: string): CacheContents {
  return {
    home: stnetHome(home),
    weightsDir: weightsCacheDir(home),
    graphsDir: graphCacheDir(home),
    weights: listCachedWeights(home),
    graphs: listGraphs(home),
  };
}

export interface CleanOptions {
  /** Keep the downloaded weights, remove only the graphs (rebuilt from the weights on the next start). */
  readonly graphsOnly?: boolean;
}

/** Removes the cached graphs and downloaded weights (or only the graphs); returns what was freed. */
export function cleanCache(home: string | undefined, opts: CleanOptions = {}): { files: number; bytes: number } {
  const before = cacheContents(home);
  let files = before.graphs.length;
  let bytes = cleanGraphs(home);
  if (opts.graphsOnly !== true) {
    for (const w of before.weights) {
      try {
        unlinkSync(w.path);
        files++;
        bytes += w.bytes;
      } catch {
        // removed meanwhile
      }
    }
  }
  return { files, bytes };
}
