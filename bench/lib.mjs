// What the bench scripts share: the golden fixture weights, decompressed once into the tests' cache
// (.cache/test/<name>, as test/helpers/golden.ts goldenXz() does), with xz's output going straight to the file
// (argument arrays, no shell).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GOLDEN = join(ROOT, '..', 'shared', 'fixtures', 'golden');
const CACHE = join(ROOT, '.cache', 'test');

/** The path of golden fixture `name` (e.g. 'stnet_seed7_q.lodtensor'), decompressed; undefined without the fixtures. */
export function goldenFile(name) {
  const src = join(GOLDEN, `${name}.xz`);
  if (!existsSync(src)) return undefined;
  const out = join(CACHE, name);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const r = spawnSync('xz', ['-dc', '--', src], { stdio: ['ignore', fd, 'inherit'] });
    if (r.status !== 0) throw new Error(`xz -dc ${src} failed (${r.error?.message ?? `exit ${r.status}`})`);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, out);
  return out;
}
