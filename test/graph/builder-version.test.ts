// Cached graphs are keyed by GRAPH_BUILDER_VERSION (src/graph/cache.ts), so a change to what the builder writes
// must come with a bump, or users would keep running the graph the old builder wrote. This pins the hash of the
// graph built from fixed weights for each version: changing the builder's output fails here until the version is
// bumped and the new hash pinned under it.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GRAPH_BUILDER_VERSION, buildStnetOnnx } from '../../src/graph/stnet.js';
import { syntheticWeights } from '../helpers/synthetic-weights.js';

/** sha256 of buildStnetOnnx(syntheticWeights(), { producerVersion: 'pinned' }), per builder version. */
const PINNED: Readonly<Record<number, string>> = {
  1: '17b78cf18b97cb2f92237c7097f07305e6c4c081ff9b45b295de86de3c47c11c',
  // 2: the embedding output (the fc layer's 1024-value input).
  2: '97361ccb21777b4734e53928f3c6b84fe39f46022ccbde0e84e6e73fd0078ebd',
};

describe('GRAPH_BUILDER_VERSION', () => {
  it('the graph built from fixed weights has the hash pinned for this version (bump the version when the output changes)', () => {
    const hash = createHash('sha256').update(buildStnetOnnx(syntheticWeights(), { producerVersion: 'pinned' })).digest('hex');
    const pinned = PINNED[GRAPH_BUILDER_VERSION];
    expect(pinned, `no hash pinned for GRAPH_BUILDER_VERSION ${GRAPH_BUILDER_VERSION}: add ${GRAPH_BUILDER_VERSION}: '${hash}'`).toBeDefined();
    expect(hash, `the builder's output changed: bump GRAPH_BUILDER_VERSION in src/graph/stnet.ts and pin ${hash} under the new version`).toBe(pinned);
  });

  it('every version pinned so far has its own hash (a bump without a new output is a mistake too)', () => {
    const hashes = Object.values(PINNED);
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(Math.max(...Object.keys(PINNED).map(Number))).toBe(GRAPH_BUILDER_VERSION);
  });
});
