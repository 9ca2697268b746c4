// Benchmark of the timeline's memory (not a test). Run against the built dist/: `npx tsc -p . && node bench/timeline.mjs`.
// Prints the peak RSS of a timeline over a 10 s 1080p clip and over a long 1080p video (each in a fresh child
// process), their difference (target: within +300 MB, issue 12), windows and frames per second.
// The model is replaced by a predictor that returns zeros unless --weights PATH is given: inference memory does
// not depend on the video's length, and the runner (decode, ring of crops, window tensors) is what is measured.
// Options: --minutes M (long video length, default 2: a 1-hour 1080p video takes hours to make and decode on a
// small machine; the figure to watch is whether memory grows from 10 s to M minutes), --weights PATH,
// --seg_num N / --target_size T (default 25 / 256, the reference's), --window S / --stride S (default 10 / 5).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(ROOT, 'dist', p);
const args = process.argv.slice(2);
const value = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};

if (args[0] === '--child') {
  // One measured timeline: prints one JSON line.
  const [, path, weights, segNum, targetSize, windowSec, strideSec] = args;
  const { runTimeline } = await import(dist('timeline/runner.js'));
  let predictor = { predict: async () => ({ probs: new Float32Array(400), embedding: new Float32Array(1024) }) };
  let model;
  if (weights !== '-') {
    const { StNet } = await import(dist('index.js'));
    model = await StNet.load({ weights });
    predictor = { predict: (data, dims) => model.forward(data, dims) };
  }
  const rssBefore = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  let windows = 0;
  let frames = 0;
  const opts = { segNum: Number(segNum), shortSize: Number(targetSize), targetSize: Number(targetSize), windowSec: Number(windowSec), strideSec: Number(strideSec), readTimeoutMs: 600_000 };
  for await (const w of runTimeline(predictor, path, opts)) {
    windows++;
    frames = w.endFrame;
  }
  await model?.close();
  console.log(JSON.stringify({ windows, frames, seconds: (performance.now() - t0) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024, rssBeforeMb: rssBefore / 1024 }));
  process.exit(0);
}

const minutes = Number(value('--minutes', '2'));
const weights = value('--weights', '-');
const segNum = value('--seg_num', '25');
const targetSize = value('--target_size', '256');
const windowSec = value('--window', '10');
const strideSec = value('--stride', '5');
const { findFfmpeg } = await import(dist('video/ffmpeg.js'));
const tools = await findFfmpeg();
const dir = mkdtempSync(join(tmpdir(), 'stnet-bench-timeline-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function make(name, seconds) {
  const out = join(dir, name);
  const t0 = performance.now();
  execFileSync(tools.ffmpeg, ['-hide_banner', '-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=30:duration=${seconds}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', out]);
  console.log(`  made ${name}: ${seconds} s of 1080p30 (${(statSync(out).size / 1e6).toFixed(1)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}

function measure(path) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', path, weights, segNum, targetSize, windowSec, strideSec], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

console.log(`timeline memory, 1080p30 H.264, window ${windowSec} s / stride ${strideSec} s, seg_num ${segNum}, ${targetSize} px, model: ${weights === '-' ? 'none (zeros)' : weights}`);
console.log(`  load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} (a loaded machine makes times slower, not memory larger)`);
// 30 s as well: a 10 s clip with 10 s windows is one window and fills only one of the runner's two window
// tensors, so 10 s -> 30 s shows that second buffer (fixed), 30 s -> long shows whether memory grows with length.
const cases = [
  ['10 s', make('short.mp4', 10)],
  ['30 s', make('mid.mp4', 30)],
  [`${minutes} min`, make('long.mp4', Math.round(minutes * 60))],
];
const results = cases.map(([name, path]) => [name, measure(path)]);
for (const [name, m] of results) {
  console.log(`  ${name.padEnd(8)} ${String(m.windows).padStart(5)} windows, ${String(m.frames).padStart(6)} frames in ${m.seconds.toFixed(1)} s (${(m.frames / m.seconds).toFixed(1)} frames/s), peak RSS ${m.maxRssMb.toFixed(0)} MB`);
}
const rss = (i) => results[i][1].maxRssMb;
console.log(`  peak RSS difference ${minutes} min - 10 s: ${(rss(2) - rss(0)).toFixed(0)} MB (target: within +300 MB); ${minutes} min - 30 s: ${(rss(2) - rss(1)).toFixed(0)} MB`);
