// Start-up time of a model, first start vs. second start, and whether an ONNX-graph cache would help.
//   node bench/start.mjs [weights] [--runs N]
// Each measurement runs in a fresh node process (what a CLI user pays), the variants interleaved so
// that machine noise hits them alike:
//   weights  StNet.load({ weights }): read + validate the weights, build the ONNX graph, create the session
//   onnx     what a graph cache would do on a second start: read a cached .onnx file, create the session
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
const dist = (p) => JSON.stringify(join(ROOT, 'dist', p));

const tmp = mkdtempSync(join(tmpdir(), 'stnet-start-'));
const onnxPath = join(tmp, 'model.onnx');
// The cached graph, written once (what the first start would store).
// Scripts go to files, not `node -e`: --input-type=module would leak into onnxruntime's worker thread.
const script = (name, code) => {
  const path = join(tmp, `${name}.mjs`);
  writeFileSync(path, code);
  return path;
};
const prep = spawnSync(
  process.execPath,
  [script('prep', `const { exportOnnx } = await import(${dist('graph/stnet.js')}); await exportOnnx(${JSON.stringify(weights)}, ${JSON.stringify(onnxPath)});`)],
  { encoding: 'utf8' },
);
if (prep.status !== 0) throw new Error(prep.stderr);

const scripts = {
  weights: `
    const t0 = performance.now();
    const { StNet } = await import(${dist('stnet.js')});
    const m = await StNet.load({ weights: ${JSON.stringify(weights)} });
    const ms = performance.now() - t0;
    await m.close();
    console.log(ms);`,
  onnx: `
    const t0 = performance.now();
    const { readFile } = await import('node:fs/promises');
    const { ModelSession } = await import(${dist('graph/session.js')});
    const { availableParallelism } = await import('node:os');
    const bytes = new Uint8Array(await readFile(${JSON.stringify(onnxPath)}));
    const s = await ModelSession.create(bytes, { threads: availableParallelism(), useGpu: false });
    const ms = performance.now() - t0;
    await s.close();
    console.log(ms);`,
};

const times = { weights: [], onnx: [] };
for (let i = 0; i < runs; i++) {
  for (const name of i % 2 === 0 ? ['weights', 'onnx'] : ['onnx', 'weights']) {
    const r = spawnSync(process.execPath, [script(name, scripts[name])], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
    times[name].push(Number(r.stdout.trim().split('\n').pop()));
  }
}
rmSync(tmp, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => xs.map((x) => Math.round(x)).join(', ');
console.log(`weights: ${weights} (${statSync(weights).size} bytes); ${runs} fresh processes per variant, interleaved`);
console.log(`start from weights (every start today):      median ${Math.round(median(times.weights))} ms  [${fmt(times.weights)}]`);
console.log(`start from a cached .onnx (a graph cache):   median ${Math.round(median(times.onnx))} ms  [${fmt(times.onnx)}]`);
console.log(`ratio cached/weights: ${(median(times.onnx) / median(times.weights)).toFixed(2)}`);
writeFileSync(join(tmpdir(), 'stnet-bench-start.json'), JSON.stringify({ weights, runs, times }, null, 1));
