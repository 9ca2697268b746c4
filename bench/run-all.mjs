// `npm run bench`: runs every benchmark script in turn (they print their own figures).
// Benchmarks are not tests: they measure, they do not assert. Run one alone with `node bench/<name>.mjs`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Data order: weights, model (fp32, int8), video, start-up, one `stnet run`, batches, timelines, HTTP service, queue workers. `npm run bench -- model video` runs a subset.
const order = ['weights-load.mjs', 'model.mjs', 'int8.mjs', 'video.mjs', 'start.mjs', 'run.mjs', 'classify.mjs', 'timeline.mjs', 'load.mjs', 'queue.mjs'];
const only = process.argv.slice(2);
let failed = 0;
for (const name of order) {
  if (only.length > 0 && !only.some((o) => name.startsWith(o))) continue;
  const file = fileURLToPath(new URL(name, import.meta.url));
  if (!existsSync(file)) continue;
  console.log(`\n=== bench/${name} ===`);
  const r = spawnSync(process.execPath, ['--expose-gc', file], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`bench/${name} exited with ${r.status ?? r.signal}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
