// Benchmark for video decoding + preprocessing (not a test). Run against the built dist/: `npx tsc -p . && node bench/video.mjs`.
// Prints: decode+preprocess time of a 10 s 720p and a 10 s 340x256 H.264 clip (reference settings 25x5, 256),
// the ratio to a plain `ffmpeg -i X -f null -` of the same file, peak RSS of a 10-min 1080p vs the 10-s 340x256
// clip (each in a fresh child process), and, when weights are available, the share of end-to-end time.
// Options: --no-long (skip the 10-min 1080p case), --weights PATH (else STNET_WEIGHTS, else the golden seed-7
// weights decompressed into .cache/bench), --no-model, --runs N (timing repetitions, default 3).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(ROOT, 'dist', p);
const { loadVideo } = await import(dist('video/load-video.js'));
const { findFfmpeg } = await import(dist('video/ffmpeg.js'));

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(value('--runs') ?? 3);

const tools = await findFfmpeg();
const dir = mkdtempSync(join(tmpdir(), 'stnet-bench-video-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
// Interrupted runs (the 10-min case takes minutes) still remove their multi-hundred-MB clips.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const fmt = (x) => x.toFixed(0);

function make(name, lavfi, extra = []) {
  const out = join(dir, name);
  const t0 = process.hrtime.bigint();
  execFileSync(tools.ffmpeg, ['-hide_banner', '-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', lavfi, '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', ...extra, out]);
  console.log(`  made ${name} (${(statSync(out).size / 1e6).toFixed(1)} MB) in ${(ms(t0) / 1000).toFixed(1)} s`);
  return out;
}

function plainDecodeMs(path) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(tools.ffmpeg, ['-hide_banner', '-v', 'error', '-nostdin', '-i', `file:${path}`, '-f', 'null', '-']);
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return ms(t0);
}

/** Runs loadVideo in a fresh node process; returns its own peak RSS and the peak of the whole tree (GNU time). */
function childRss(path) {
  const script = `const { loadVideo } = await import(${JSON.stringify(dist('video/load-video.js'))});
const t0 = Date.now(); const clip = await loadVideo(${JSON.stringify(path)});
console.log(JSON.stringify({ ms: Date.now() - t0, maxRSSkB: process.resourceUsage().maxRSS, frames: clip.info.frameCount }));`;
  const hasTime = existsSync('/usr/bin/time');
  const cmd = hasTime ? '/usr/bin/time' : process.execPath;
  const cargs = hasTime ? ['-f', 'TREE_MAXRSS_KB=%M', process.execPath, '--input-type=module', '-e', script] : ['--input-type=module', '-e', script];
  const r = spawnSync(cmd, cargs, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  const tree = /TREE_MAXRSS_KB=(\d+)/.exec(r.stderr);
  return { ...res, treeMaxKB: tree ? Number(tree[1]) : undefined };
}

console.log(`stnet video benchmark: ffmpeg ${tools.version} (${tools.source}: ${tools.ffmpeg}), node ${process.version}, ${RUNS} runs, median; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('generating clips (lavfi testsrc2, libx264 veryfast, 25 fps):');
const small = make('340x256_10s.mp4', 'testsrc2=size=340x256:rate=25:duration=10');
const hd = make('1280x720_10s.mp4', 'testsrc2=size=1280x720:rate=25:duration=10');

const results = {};
for (const [label, path] of [['10 s 340x256', small], ['10 s 1280x720', hd]]) {
  const ours = [];
  const plain = [];
  let clip;
  const cpu = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    clip = await loadVideo(path);
    ours.push(ms(t0));
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    plain.push(plainDecodeMs(path));
  }
  results[label] = { path, ours: median(ours), plain: median(plain), clip };
  console.log(`${label}: loadVideo (decode+preprocess, 25x5, 256) ${fmt(median(ours))} ms; plain ffmpeg -f null ${fmt(median(plain))} ms; ratio ${(median(ours) / median(plain)).toFixed(2)}x; node CPU in loadVideo ${fmt(median(cpu))} ms (ffmpeg/ffprobe not included)`);
}

// End-to-end share with the model, when there are weights to run it with.
if (!flag('--no-model')) {
  let weights = value('--weights') ?? process.env.STNET_WEIGHTS;
  const golden = join(ROOT, '..', 'shared', 'fixtures', 'golden', 'stnet_seed7_q.pdparams.xz');
  if (!weights && existsSync(golden)) {
    const cacheDir = join(ROOT, '.cache', 'bench');
    mkdirSync(cacheDir, { recursive: true });
    weights = join(cacheDir, 'stnet_seed7_q.pdparams');
    if (!existsSync(weights)) execFileSync('sh', ['-c', 'xz -dc -- "$0" > "$1.tmp" && mv "$1.tmp" "$1"', golden, weights]);
  }
  let StNet;
  try {
    ({ StNet } = await import(dist('stnet.js')));
  } catch {
    StNet = undefined;
  }
  if (!weights || !StNet) {
    console.log('end-to-end share: skipped (no weights or no built model code)');
  } else {
    console.log(`loading the model (${weights}) ...`);
    const model = await StNet.load({ weights });
    for (const [label, r] of Object.entries(results)) {
      const times = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = process.hrtime.bigint();
        await model.predict(r.clip.data, r.clip.dims);
        times.push(ms(t0));
      }
      const m = median(times);
      console.log(`${label}: model ${fmt(m)} ms -> decode+preprocess is ${((100 * r.ours) / (r.ours + m)).toFixed(1)}% of end-to-end (${fmt(r.ours + m)} ms)`);
    }
    await model.close();
  }
}

const smallRss = childRss(small);
console.log(`peak RSS, 10 s 340x256 in a fresh process: node ${(smallRss.maxRSSkB / 1024).toFixed(0)} MB, process tree max ${smallRss.treeMaxKB ? (smallRss.treeMaxKB / 1024).toFixed(0) + ' MB' : 'n/a'} (${smallRss.ms} ms)`);
if (!flag('--no-long')) {
  // 10 minutes of 1080p: encode one minute, then loop it ten times without re-encoding (cheap to generate).
  const minute = make('1920x1080_60s.mp4', 'testsrc2=size=1920x1080:rate=25:duration=60', ['-g', '250']);
  const long = join(dir, '1920x1080_600s.mp4');
  execFileSync(tools.ffmpeg, ['-hide_banner', '-v', 'error', '-nostdin', '-y', '-stream_loop', '9', '-i', minute, '-c', 'copy', long]);
  rmSync(minute);
  const t0 = process.hrtime.bigint();
  const plain = plainDecodeMs(long);
  const longRss = childRss(long);
  console.log(`10 min 1920x1080 (${longRss.frames} frames): loadVideo ${(longRss.ms / 1000).toFixed(1)} s vs plain ffmpeg -f null ${(plain / 1000).toFixed(1)} s (ratio ${(longRss.ms / plain).toFixed(2)}x)`);
  console.log(`peak RSS, 10 min 1080p in a fresh process: node ${(longRss.maxRSSkB / 1024).toFixed(0)} MB, process tree max ${longRss.treeMaxKB ? (longRss.treeMaxKB / 1024).toFixed(0) + ' MB' : 'n/a'}`);
  console.log(`peak RSS difference (node process): ${((longRss.maxRSSkB - smallRss.maxRSSkB) / 1024).toFixed(0)} MB (limit 300 MB); total bench time for this case ${(ms(t0) / 1000).toFixed(0)} s`);
}
