// The server on the golden weights, for the test files that classify real videos through HTTP: one worker
// (seg 7, 112 px, so each request is quick), started before the file's tests and shut down after them, its
// upload temp dir gone (asserted).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { shutdownServer } from '../../src/server/app.js';
import { stnetWorkers } from '../../src/server/serve.js';
import { goldenXz } from '../helpers/golden.js';
import { listen, type Running } from './helpers.js';

/** Registers the hooks; the object returned is filled in by beforeAll (use it inside tests). */
export function useGoldenServer(): Running {
  const s = {} as Running;
  beforeAll(async () => {
    const weights = await goldenXz('stnet_seed7_q.pdparams');
    const workers = await stnetWorkers({ segNum: 7, shortSize: 112, targetSize: 112 })({ count: 1, weights, threads: 2, onMessage: () => undefined });
    Object.assign(s, await listen({ workers, maxQueue: 2 }));
  });
  afterAll(async () => {
    if (s.app !== undefined) {
      const dir = s.tempDir;
      await shutdownServer(s.app, 0);
      expect(existsSync(dir)).toBe(false);
    }
  });
  return s;
}
