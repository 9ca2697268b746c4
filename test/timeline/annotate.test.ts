// `stnet annotate`: the real binary on a small video with audio. The output is H.264 MP4 with the same frame count,
// duration and audio, and the overlay is really drawn (the corner changes, the rest of the picture does not).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterValue, overlayFilter, renderAnnotated } from '../../src/timeline/annotate.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from '../helpers/golden.js';
import { cleanEnv, ensureBuilt, runCli } from '../cli/run-cli.js';
import { SYSTEM_FFMPEG, ffmpegMake } from '../video/helpers.js';

const SMALL = ['--seg_num', '7', '--short_size', '112', '--target_size', '112', '--threads', '2'];

let tmp = '';
let env: NodeJS.ProcessEnv;
beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'stnet-annotate-'));
  env = cleanEnv({ STNET_HOME: join(tmp, 'home'), STNET_WEIGHTS_URL: 'http://127.0.0.1:9/never-used' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function probe(path: string): { streams: { codec_type: string; codec_name: string; nb_read_packets: string; duration?: string }[]; format: { duration: string } } {
  const ffprobe = SYSTEM_FFMPEG.replace(/ffmpeg$/, 'ffprobe');
  const r = spawnSync(ffprobe, ['-v', 'error', '-count_packets', '-show_entries', 'stream=codec_type,codec_name,nb_read_packets,duration:format=duration', '-of', 'json', path], { encoding: 'utf8' });
  return JSON.parse(r.stdout) as ReturnType<typeof probe>;
}

/** Frame `n` as RGB (320x240). */
function frameRgb(path: string, n: number): Buffer {
  const r = spawnSync(SYSTEM_FFMPEG, ['-v', 'error', '-i', path, '-vf', `select=eq(n\\,${n})`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 24 });
  return r.stdout;
}

/** Mean absolute difference of two RGB frames over a rectangle. */
function meanDiff(a: Buffer, b: Buffer, x0: number, y0: number, x1: number, y1: number, width = 320): number {
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        sum += Math.abs(a[i]! - b[i]!);
        n++;
      }
    }
  }
  return sum / n;
}

describe('overlay filter script', () => {
  it('escapes paths for the option and the filtergraph level', () => {
    expect(filterValue('/a b/c.txt')).toBe('/a b/c.txt');
    expect(filterValue("/x:y/it's,[1];.txt")).toBe("/x\\\\:y/it\\\\\\'s\\,\\[1\\]\\;.txt");
  });

  it('shows each window from its start until the next window starts, bars as long as the probabilities', () => {
    const w = (window: number, startSec: number, endSec: number, prob: number) => ({ path: 'v', window, startFrame: 0, endFrame: 0, startSec, endSec, predictions: [{ label: 'abseiling', index: 0, prob }] });
    const script = overlayFilter([w(0, 0, 10, 0.5), w(1, 5, 15, 1)], 640, 360, 3, '/f.ttf', (i, r) => `/t/w${i}_${r}.txt`);
    const lines = script.trim().split(',\n');
    expect(lines[0]).toMatch(/^drawbox=x=7:y=7:w=\d+:h=\d+:color=black@0.55:t=fill$/);
    expect(lines).toHaveLength(1 + 2 * 2);
    expect(lines[1]).toMatch(/^drawbox=x=14:y=14:w=(\d+):h=\d+:color=0x4caf50@0.85:t=fill:enable='between\(t\\,0\\,4.999999\)'$/);
    expect(lines[2]).toContain("textfile=/t/w0_0.txt:expansion=none");
    expect(lines[3]).toMatch(/enable='gte\(t\\,5\)'$/);
    const width = (l: string): number => Number(/:w=(\d+):/.exec(l)![1]);
    expect(width(lines[3]!)).toBe(2 * width(lines[1]!));
  });
});

describe('renderAnnotated', () => {
  it('encodes audio that MP4 cannot hold as it is (PCM from an AVI) to AAC instead of dropping it', async () => {
    const input = join(tmp, 'pcm.avi');
    await ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10:duration=2', '-f', 'lavfi', '-i', 'sine=duration=2', '-c:v', 'mpeg4', '-c:a', 'pcm_s16le', '-shortest', input]);
    const out = join(tmp, 'pcm.mp4');
    const windows = [0, 1].map((k) => ({ path: input, window: k, startFrame: k * 10, endFrame: k * 10 + 10, startSec: k, endSec: k + 1, predictions: [{ label: 'abseiling', index: 0, prob: 0.5 }] }));
    let frames = 0;
    await renderAnnotated(input, out, { windows, width: 320, height: 240, onProgress: (n) => (frames = n) });
    const p = probe(out);
    expect(p.streams.map((s) => [s.codec_type, s.codec_name])).toEqual([['video', 'h264'], ['audio', 'aac']]);
    expect(p.streams[0]!.nb_read_packets).toBe('20');
    expect(frames).toBe(20);
    await expect(renderAnnotated(input, out, { windows, width: 320, height: 240 })).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/already exists; pass --overwrite/) });
  });
});

describe('stnet annotate: bad output paths exit 2 before any work', () => {
  it('a missing folder, an existing file without --overwrite, a stream input', async () => {
    const video = join(tmp, 'exists.mp4');
    writeFileSync(video, 'x');
    const missing = await runCli(['annotate', '--input_path', video, '--out', join(tmp, 'no', 'such', 'out.mp4')], { env });
    expect([missing.code, missing.stdout]).toEqual([2, '']);
    expect(missing.stderr).toMatch(/error E_INVALID_OPTION: cannot write .*out\.mp4: folder .*such does not exist; create it/);
    const exists = join(tmp, 'taken.mp4');
    writeFileSync(exists, 'keep me');
    const taken = await runCli(['annotate', '--input_path', video, '--out', exists], { env });
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(/taken\.mp4 already exists; pass --overwrite/);
    expect(statSync(exists).size).toBe(7);
    const stream = await runCli(['annotate', '--input_path', 'http://127.0.0.1:9/x.ts', '--out', join(tmp, 'o.mp4')], { env });
    expect(stream.code).toBe(2);
    expect(stream.stderr).toMatch(/Expected a video file for annotate's --input_path/);
    const noOut = await runCli(['annotate', '--input_path', video], { env });
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/required option '--out <file>' not specified/);
  });
});

describe.skipIf(!HAS_GOLDEN)(`stnet annotate with the golden weights${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  it('writes H.264 MP4 with the same frames, duration and audio, the labels drawn in the corner; --overwrite replaces', async () => {
    const weights = await goldenXz('stnet_seed7_q.lodtensor');
    const input = join(tmp, 'in.mp4');
    await ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=20:duration=3', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', input]);
    // A folder with a space and a colon: the paths in the filter script are escaped.
    const outDir = join(tmp, 'out dir: 1');
    mkdirSync(outDir);
    const out = join(outDir, 'labels.mp4');
    const r = await runCli(['annotate', '--input_path', input, '--out', out, '--window_frames', '20', '--stride_frames', '10', '--weights', weights, ...SMALL], { env });
    expect(r.stderr).toMatch(/stnet: wrote .*labels\.mp4 \(5 windows\)\n$/);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${out}\n`);
    expect(readdirSync(outDir)).toEqual(['labels.mp4']); // the work folder is gone

    const a = probe(input);
    const b = probe(out);
    const kinds = (p: typeof a) => p.streams.map((s) => [s.codec_type, s.codec_name, s.nb_read_packets]);
    expect(kinds(b)).toEqual(kinds(a)); // h264 60 frames, aac with the same packets (copied)
    expect(Math.abs(Number(b.format.duration) - Number(a.format.duration))).toBeLessThan(0.05);

    const fi = frameRgb(input, 30);
    const fo = frameRgb(out, 30);
    expect(fo.length).toBe(320 * 240 * 3);
    // The panel (top-left) is drawn; the bottom-right quarter is only re-encoded.
    expect(meanDiff(fi, fo, 10, 10, 60, 40)).toBeGreaterThan(20);
    expect(meanDiff(fi, fo, 200, 150, 320, 240)).toBeLessThan(6);

    const again = await runCli(['annotate', '--input_path', input, '--out', out, '--overwrite', '--window_frames', '60', '--top_k', '1', '--weights', weights, ...SMALL], { env });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/\(1 window\)/);
  });
});
