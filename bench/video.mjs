// Benchmark for video decoding + preprocessing (not a test). `npm run bench -- video` (builds dist/ first).
// Issue 10 target 1: loadVideo (seg 25, 256) against `ffmpeg -i V -map 0:v:0 -f null -` of the same file, for an
// SD AVI (the shared PaddleVideo example), a 1280x720 H.264 MP4 and a 360x640 (portrait) VP9 WebM; the last two
// are made at bench time from the shared sample clips into a temp dir. Runs alternate loadVideo / ffmpeg, median.
// Also printed: node's CPU time inside loadVideo, peak RSS of one loadVideo in a fresh process, and with --long the
// 10-min 1080p memory case. Options: --runs N (default 5), --long, --only sd|hd|vp9, --baseline DIR: also time the
// loadVideo of another build (DIR = a checkout with its own dist/, e.g. `git archive <commit>` + tsc) in the same
// alternating runs, to measure before and after side by side.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
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
const RUNS = Number(value('--runs') ?? 5);
const BASELINE = value('--baseline');
const baselineLoad = BASELINE ? (await import(join(BASELINE, 'dist', 'video', 'load-video.js'))).loadVideo : undefined;
const ONLY = value('--only');

const tools = await findFfmpeg();
const videos = join(ROOT, '..', 'shared', 'fixtures', 'videos');
if (!existsSync(join(videos, 'paddlevideo_example.avi'))) {
  console.log(`bench/video: skipped, needs the shared sample videos in ${videos}`);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'stnet-bench-video-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const fmt = (x) => x.toFixed(0);

function make(name, input, codecArgs) {
  const out = join(dir, name);
  const t0 = process.hrtime.bigint();
  execFileSync(tools.ffmpeg, ['-hide_banner', '-v', 'error', '-nostdin', '-y', ...input, '-an', ...codecArgs, '-pix_fmt', 'yuv420p', out]);
  console.log(`  made ${name} (${(statSync(out).size / 1e6).toFixed(1)} MB) in ${(ms(t0) / 1000).toFixed(1)} s`);
  return out;
}

/** The baseline of the target, exactly: `ffmpeg -i V -map 0:v:0 -f null -`. */
function plainDecodeMs(path) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(tools.ffmpeg, ['-hide_banner', '-v', 'error', '-nostdin', '-i', `file:${path}`, '-map', '0:v:0', '-f', 'null', '-']);
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

console.log(`stnet video benchmark: ffmpeg ${tools.version} (${tools.source}: ${tools.ffmpeg}), node ${process.version}, ${RUNS} runs alternating, median; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('making the clips:');
const clips = [
  ['sd', '320x240 MPEG-4 AVI', join(videos, 'paddlevideo_example.avi')],
  ['hd', '1280x720 H.264 MP4', make('1280x720_h264.mp4', ['-i', join(videos, 'mmaction2_tests_test.mp4'), '-vf', 'scale=1280:720'], ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23'])],
  ['vp9', '360x640 VP9 WebM', make('360x640_vp9.webm', ['-i', join(videos, 'mmaction2_demo.mp4'), '-vf', 'scale=360:640'], ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1M'])],
].filter(([key]) => !ONLY || ONLY === key);

let sumOurs = 0;
let sumPlain = 0;
let sumBase = 0;
for (const [, label, path] of clips) {
  const ours = [];
  const plain = [];
  const base = [];
  const cpu = [];
  let clip;
  await loadVideo(path); // warm-up: page cache, ffmpeg discovery
  if (baselineLoad) await baselineLoad(path);
  const timeOurs = async () => {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    clip = await loadVideo(path);
    ours.push(ms(t0));
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  };
  const timeBase = async () => {
    const t0 = process.hrtime.bigint();
    await baselineLoad(path);
    base.push(ms(t0));
  };
  for (let i = 0; i < RUNS; i++) {
    // Rotate the order so that no side always runs right after another's cache effects.
    const steps = [timeOurs, async () => plain.push(plainDecodeMs(path)), ...(baselineLoad ? [timeBase] : [])];
    for (let j = 0; j < steps.length; j++) await steps[(i + j) % steps.length]();
  }
  sumOurs += median(ours);
  sumPlain += median(plain);
  const baseText = baselineLoad ? `; baseline loadVideo ${fmt(median(base))} ms [${base.map(fmt).join(', ')}], ratio ${(median(base) / median(plain)).toFixed(2)}x` : '';
  if (baselineLoad) sumBase += median(base);
  console.log(`${label} (${clip.info.frameCount} frames): loadVideo ${fmt(median(ours))} ms [${ours.map(fmt).join(', ')}]; ffmpeg -f null ${fmt(median(plain))} ms [${plain.map(fmt).join(', ')}]; ratio ${(median(ours) / median(plain)).toFixed(2)}x; node CPU in loadVideo ${fmt(median(cpu))} ms${baseText}`);
}
console.log(`summed: loadVideo ${fmt(sumOurs)} ms vs ffmpeg ${fmt(sumPlain)} ms: ratio ${(sumOurs / sumPlain).toFixed(2)}x (target <= 1.5x)${baselineLoad ? `; baseline ${fmt(sumBase)} ms: ratio ${(sumBase / sumPlain).toFixed(2)}x` : ''}`);

const sdRss = childRss(join(videos, 'paddlevideo_example.avi'));
console.log(`peak RSS, loadVideo of the SD AVI in a fresh process: node ${(sdRss.maxRSSkB / 1024).toFixed(0)} MB, process tree max ${sdRss.treeMaxKB ? (sdRss.treeMaxKB / 1024).toFixed(0) + ' MB' : 'n/a'} (${sdRss.ms} ms)`);
if (flag('--long')) {
  // 10 minutes of 1080p: encode one minute, then loop it ten times without re-encoding (cheap to generate).
  const minute = make('1920x1080_60s.mp4', ['-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=25:duration=60'], ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '250']);
  const long = join(dir, '1920x1080_600s.mp4');
  execFileSync(tools.ffmpeg, ['-hide_banner', '-v', 'error', '-nostdin', '-y', '-stream_loop', '9', '-i', minute, '-c', 'copy', long]);
  rmSync(minute);
  const plain = plainDecodeMs(long);
  const longRss = childRss(long);
  console.log(`10 min 1920x1080 (${longRss.frames} frames): loadVideo ${(longRss.ms / 1000).toFixed(1)} s vs ffmpeg -f null ${(plain / 1000).toFixed(1)} s (ratio ${(longRss.ms / plain).toFixed(2)}x)`);
  console.log(`peak RSS, 10 min 1080p in a fresh process: node ${(longRss.maxRSSkB / 1024).toFixed(0)} MB (SD clip: ${(sdRss.maxRSSkB / 1024).toFixed(0)} MB; the difference should stay under 300 MB)`);
}
