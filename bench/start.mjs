// Start-up time of StNet.load: without the graph cache, first start with it (build + write the graph),
// second start (read the cached graph). Each start is a fresh node process (what a CLI user pays);
// the variants are interleaved so machine noise hits them alike.
//   node bench/start.mjs [weights] [--runs N]
// Needs `npx tsc -p .` first. Default weights: the golden LoDTensor stream in .cache/test (run the tests once).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 5;
const weights = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs') ?? join(ROOT, '.cache', 'test', 'stnet_seed7_q.lodtensor');
if (!existsSync(weights)) {
  console.error(`weights not found: ${weights} (pass a path, or run the tests once to unpack the golden weights)`);
  process.exit(2);
}

const tmp = mkdtempSync(join(tmpdir(), 'stnet-start-'));
// A script file, not `node -e`: --input-type=module would leak into onnxruntime's worker thread.
const script = join(tmp, 'load.mjs');
writeFileSync(
  script,
  `const [cacheDir, graphCache] = process.argv.slice(2);
   const t0 = performance.now();
   const { StNet } = await import(${JSON.stringify(join(ROOT, 'dist', 'stnet.js'))});
   const m = await StNet.load({ weights: ${JSON.stringify(weights)}, cacheDir, graphCache: graphCache === 'on' });
   const ms = performance.now() - t0;
   await m.close();
   console.log(ms);`,
);
const start = (cacheDir, graphCache) => {
  const r = spawnSync(process.execPath, [script, cacheDir, graphCache], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim().split('\n').pop());
};

const times = { off: [], first: [], second: [] };
for (let i = 0; i < runs; i++) {
  const home = join(tmp, `home${i}`);
  times.off.push(start(home, 'off'));
  times.first.push(start(home, 'on'));
  times.second.push(start(home, 'on'));
}
rmSync(tmp, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => xs.map((x) => Math.round(x)).join(', ');
console.log(`StNet.load, weights ${weights} (${statSync(weights).size} bytes), ${runs} rounds of fresh processes`);
console.log(`no graph cache:                    median ${Math.round(median(times.off))} ms  [${fmt(times.off)}]`);
console.log(`first start (build + write graph): median ${Math.round(median(times.first))} ms  [${fmt(times.first)}]`);
console.log(`second start (cached graph):       median ${Math.round(median(times.second))} ms  [${fmt(times.second)}]`);
console.log(`second/no-cache ratio: ${(median(times.second) / median(times.off)).toFixed(2)}; first/no-cache: ${(median(times.first) / median(times.off)).toFixed(2)}`);
