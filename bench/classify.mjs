// Batch throughput of model.classify (issue 10 target 2): 4 videos (3 SD + 1 720p, seg 25, 256 px, 2 onnxruntime
// threads) against 4 bare forwards of the same model on a prepared tensor, and the same batch with the decoding
// ffprobe/ffmpeg children at a lower OS priority (loadVideo's `niceness`), all interleaved in one run. It also
// prints the bound that no schedule can beat on this machine: the CPU time of the 4 bare forwards plus that of
// decoding the 4 videos (loadVideo in a child process, ffprobe and ffmpeg included, measured by /usr/bin/time),
// spread over every core.
//   node bench/classify.mjs [--quick] [--rounds N] [--threads N] [--baseline DIR] [weights]
// --baseline DIR: also the same batch with the loadVideo of another build (DIR with its own dist/), for before/after.
// --quick: seg_num 7 at 112 px. Needs dist/ (npm run build). Default weights: the golden seed-7 LoDTensor
// stream, decompressed into .cache/test. The 720p clip is made at bench time from a shared sample clip.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, goldenFile } from './lib.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const rounds = opt('--rounds', 2);
const threads = opt('--threads', 2);
const videosDir = join(ROOT, '..', 'shared', 'fixtures', 'videos');
let weights = args.find((a, i) => !a.startsWith('--') && !['--rounds', '--threads', '--baseline'].includes(args[i - 1]));
const baselineAt = args.indexOf('--baseline');
const baseline = baselineAt >= 0 ? args[baselineAt + 1] : undefined;
weights ??= goldenFile('stnet_seed7_q.lodtensor');
if (!weights || !existsSync(join(videosDir, 'paddlevideo_example.avi'))) {
  console.log(`bench/classify: skipped, needs weights and ${videosDir}`);
  process.exit(0);
}

const { StNet } = await import(join(ROOT, 'dist', 'stnet.js'));
const { loadVideo } = await import(join(ROOT, 'dist', 'video', 'load-video.js'));
const { findFfmpeg } = await import(join(ROOT, 'dist', 'video', 'ffmpeg.js'));
const { classifyVideos, validateClassifyOptions } = await import(join(ROOT, 'dist', 'classify.js'));

const dir = mkdtempSync(join(tmpdir(), 'stnet-bench-classify-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const hd = join(dir, '1280x720_h264.mp4');
execFileSync((await findFfmpeg()).ffmpeg, ['-hide_banner', '-v', 'error', '-nostdin', '-y', '-i', join(videosDir, 'mmaction2_tests_test.mp4'), '-an', '-vf', 'scale=1280:720', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', hd]);
const videos = [join(videosDir, 'paddlevideo_example.avi'), join(videosDir, 'mmaction2_demo.mp4'), hd, join(videosDir, 'mmaction2_tests_test.mp4')];

const size = quick ? { segNum: 7, shortSize: 112, targetSize: 112 } : { segNum: 25, shortSize: 256, targetSize: 256 };
const model = await StNet.load({ weights, threads });
const clip = await loadVideo(videos[0], { ...size, seglen: 5 });

const bareCpu = [];
async function bare() {
  const c0 = process.cpuUsage(); // process-wide: onnxruntime's threads included
  for (let i = 0; i < videos.length; i++) await model.predict(clip.data, clip.dims);
  const c = process.cpuUsage(c0);
  bareCpu.push((c.user + c.system) / 1000);
}

/** CPU ms (user + sys, children included) of a node child that imports loadVideo and decodes `list`. */
function decodeCpuMs(list) {
  const src = `const { loadVideo } = await import(${JSON.stringify(join(ROOT, 'dist', 'video', 'load-video.js'))}); for (const v of ${JSON.stringify(list)}) await loadVideo(v, ${JSON.stringify({ ...size, seglen: 5 })});`;
  const r = spawnSync('/usr/bin/time', ['-f', 'cpu=%U+%S', process.execPath, '--input-type=module', '-e', src], { encoding: 'utf8' });
  const m = /cpu=([\d.]+)\+([\d.]+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || m === null) return NaN;
  return (Number(m[1]) + Number(m[2])) * 1000;
}
const baselineLoad = baseline ? (await import(join(baseline, 'dist', 'video', 'load-video.js'))).loadVideo : undefined;
const classifyWith = (niceness, loader = loadVideo) => async () => {
  // classifyVideos is what model.classify runs; the loader is wrapped only to pass the priority.
  const load = (path, o) => loader(path, niceness === undefined ? o : { ...o, niceness });
  const results = await classifyVideos(model, load, videos, validateClassifyOptions({ ...size, topK: 5 }));
  if (!results.every((r) => r.ok)) throw new Error(JSON.stringify(results));
};
const variants = { bare, classify: classifyWith(0), 'classify, decode at niceness 10': classifyWith(10), ...(baselineLoad ? { 'classify, baseline loadVideo': classifyWith(undefined, baselineLoad) } : {}) };

await variants.classify(); // warm-up: first-run allocations in onnxruntime and the page cache
const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
const names = Object.keys(variants);
for (let i = 0; i < rounds; i++) {
  for (let j = 0; j < names.length; j++) {
    const name = names[(i + j) % names.length];
    const t0 = performance.now();
    await variants[name]();
    times[name].push(performance.now() - t0);
  }
}
await model.close();
// Decoding's own CPU: the 4 videos minus a child that only imports (node start-up is not decoding).
const decodeCpu = [];
if (existsSync('/usr/bin/time')) for (let i = 0; i < rounds; i++) decodeCpu.push(decodeCpuMs(videos) - decodeCpuMs([]));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => xs.map((x) => Math.round(x)).join(', ');
console.log(`${videos.length} videos (3 SD + 1 720p), seg_num ${size.segNum}, ${size.targetSize} px, ${model.threads} onnxruntime threads, ${rounds} rounds interleaved; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
for (const name of names) {
  const ratio = name === 'bare' ? '' : `  ratio to 4 bare forwards ${(median(times[name]) / median(times.bare)).toFixed(2)}x (target <= 1.15x)`;
  console.log(`${name.padEnd(32)} median ${Math.round(median(times[name]))} ms  [${fmt(times[name])}]${ratio}`);
}
if (decodeCpu.length > 0 && decodeCpu.every(Number.isFinite)) {
  const cores = availableParallelism();
  const bound = Math.max(median(times.bare), (median(bareCpu) + median(decodeCpu)) / cores);
  console.log(`CPU time: 4 bare forwards ${Math.round(median(bareCpu))} ms, decoding the 4 videos ${Math.round(median(decodeCpu))} ms [${fmt(decodeCpu)}] (ffprobe, ffmpeg, resize)`);
  console.log(`bound on ${cores} cores (all of that work spread over every core): ${Math.round(bound)} ms = ${(bound / median(times.bare)).toFixed(2)}x 4 bare forwards`);
} else {
  console.log('bound: not measured (/usr/bin/time missing)');
}
