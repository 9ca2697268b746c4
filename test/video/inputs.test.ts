// Inputs the loader must handle: containers/codecs, odd and portrait sizes, frames smaller than the crop, VFR,
// several video streams, rotation metadata, truncated files, still images and the real sample clips.
// Each result is checked against an independent full decode (plain ffmpeg CLI) + the pure transforms.
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVideo } from '../../src/video/load-video.js';
import { HAS_VIDEOS, VIDEOS_DIR } from '../helpers/golden.js';
import { PROBE_READS_TS, expectClipMatches, ffmpegMake, fpsMode, fullDecode, mediaChildren, tempDir } from './helpers.js';

const SMALL = { segNum: 7, seglen: 5, shortSize: 112, targetSize: 112 };
let dir = '';
const f = (name: string): string => join(dir, name);
const src = (size: string, rate = 10, duration = 1): string[] => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}:duration=${duration}`];
const x264 = ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast'];

beforeAll(async () => {
  dir = tempDir('inputs');
  await Promise.all([
    ffmpegMake([...src('64x48'), ...x264, f('h264.mp4')]),
    ffmpegMake([...src('64x48'), '-c:v', 'mpeg4', f('mpeg4.avi')]),
    ffmpegMake([...src('64x48'), '-c:v', 'libvpx-vp9', '-deadline', 'realtime', f('vp9.webm')]),
    ffmpegMake([...src('64x48'), '-c:v', 'libx265', '-x265-params', 'log-level=error', f('hevc.mkv')]),
    ffmpegMake([...src('64x48'), '-c:v', 'mpeg2video', f('mpeg2.ts')]),
    ffmpegMake([...src('64x48'), '-c:v', 'libvpx', '-deadline', 'realtime', f('vp8.webm')]),
    ffmpegMake([...src('64x48'), '-c:v', 'libaom-av1', '-strict', 'experimental', '-cpu-used', '8', f('av1.mkv')]),
    ffmpegMake([...src('48x64'), ...x264, f('portrait.mp4')]),
    // testsrc2 only makes even sizes; testsrc + 4:4:4 keeps 61x45.
    ffmpegMake(['-f', 'lavfi', '-i', 'testsrc=size=61x45:rate=10:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', '-preset', 'ultrafast', f('odd.mp4')]),
    // 16 frames whose timestamps are irregular: duration * fps (23) differs from the real count.
    ffmpegMake([...src('64x48', 10, 2), '-vf', "setpts='if(lt(N,10),N*0.05,0.5+(N-10)*0.2)/TB'", ...fpsMode('vfr'), ...x264, f('vfr.mp4')]),
    // Two video streams: the first (64x48 test pattern) is the one OpenCV reads; ffmpeg's own default would be the larger.
    ffmpegMake([...src('64x48'), '-f', 'lavfi', '-i', 'color=c=blue:size=96x72:rate=10:duration=1', '-map', '0', '-map', '1', ...x264, f('two.mkv')]),
    ffmpegMake([...src('160x120', 20, 3), ...x264, '-movflags', '+faststart', f('long.mp4')]),
    ffmpegMake([...src('64x48'), '-frames:v', '1', f('still.png')]),
    ffmpegMake([...src('64x48'), '-frames:v', '1', f('still.jpg')]),
  ]);
  // MPEG-TS whose frame size changes from 64x48 to 96x72 after 10 frames (two streams concatenated).
  await Promise.all([
    ffmpegMake([...src('64x48'), ...x264, '-bsf:v', 'h264_mp4toannexb', f('part1.ts')]),
    // timestamps continue after part 1, so the stream lasts 2 s and OpenCV's estimate (duration * fps) is 20
    ffmpegMake([...src('96x72'), ...x264, '-bsf:v', 'h264_mp4toannexb', '-output_ts_offset', '1', f('part2.ts')]),
  ]);
  writeFileSync(f('sizechange.ts'), Buffer.concat([readFileSync(f('part1.ts')), readFileSync(f('part2.ts'))]));
  // Rotation metadata on the same packets as h264.mp4 (rotate=90 in the mov muxer -> display matrix).
  await ffmpegMake(['-i', f('h264.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', f('rot90.mp4')]);
  // A faststart mp4 cut in half: the header announces 60 frames, about half decode.
  const whole = readFileSync(f('long.mp4'));
  writeFileSync(f('truncated.mp4'), whole.subarray(0, whole.length >> 1));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('containers and codecs', () => {
  const codecs: [string, string][] = [
    ['h264.mp4', 'h264'],
    ['mpeg4.avi', 'mpeg4'],
    ['vp9.webm', 'vp9'],
    ['hevc.mkv', 'hevc'],
    ['mpeg2.ts', 'mpeg2video'],
    ['vp8.webm', 'vp8'],
    ['av1.mkv', 'av1'],
  ];
  // The bundled ffprobe crashes on MPEG-TS (documented): reported as skipped, not as passed.
  if (!PROBE_READS_TS) it.skip('mpeg2.ts: only the bundled ffprobe is available and it crashes on MPEG-TS', () => undefined);
  it.each(codecs.filter(([name]) => PROBE_READS_TS || !name.endsWith('.ts')))('%s (%s): all frames counted, the sampled ones match a full decode', async (name, codec) => {
    const clip = await loadVideo(f(name), SMALL);
    expect(clip.info.codec).toBe(codec);
    expect(clip.info.frameCount).toBe(10);
    expect([clip.info.width, clip.info.height]).toEqual([64, 48]);
    expect(clip.dims).toEqual([1, 7, 15, 112, 112]);
    expect(clip.info.decodePasses).toBe(1);
    expectClipMatches(clip, fullDecode(f(name), 64, 48), SMALL);
    expect(mediaChildren()).toEqual([]);
  });
});

describe('frame sizes', () => {
  it('portrait 48x64 is resized to 112x149 and cropped at y=18', async () => {
    const clip = await loadVideo(f('portrait.mp4'), SMALL);
    expect(clip.info.resized).toEqual([112, 149]);
    expect(clip.info.cropOffset).toEqual({ x: 0, y: 18 });
    expectClipMatches(clip, fullDecode(f('portrait.mp4'), 48, 64), SMALL);
  });

  it('odd 61x45 frames (4:4:4)', async () => {
    const clip = await loadVideo(f('odd.mp4'), SMALL);
    expect([clip.info.width, clip.info.height]).toEqual([61, 45]);
    expectClipMatches(clip, fullDecode(f('odd.mp4'), 61, 45), SMALL);
  });

  it('frames smaller than the crop are upsized by the 4:3 rule (64x48 -> 341x256, crop 256)', async () => {
    const opts = { segNum: 2, seglen: 5, shortSize: 256, targetSize: 256 };
    const clip = await loadVideo(f('h264.mp4'), opts);
    expect(clip.info.resized).toEqual([341, 256]);
    expect(clip.info.cropOffset).toEqual({ x: 42, y: 0 });
    expect(clip.dims).toEqual([1, 2, 15, 256, 256]);
    expectClipMatches(clip, fullDecode(f('h264.mp4'), 64, 48), opts);
  });
});

describe('timing and streams', () => {
  it('variable frame rate: every stored frame counts (nb_frames 16, not duration*fps)', async () => {
    const clip = await loadVideo(f('vfr.mp4'), SMALL);
    expect(clip.info.frameCount).toBe(16);
    expect(clip.info.durationSec * clip.info.fps).toBeGreaterThan(20);
    const frames = fullDecode(f('vfr.mp4'), 64, 48);
    expect(frames).toHaveLength(16);
    expectClipMatches(clip, frames, SMALL);
  });

  it('several video streams: the first one, as OpenCV reads it', async () => {
    const clip = await loadVideo(f('two.mkv'), SMALL);
    expect([clip.info.width, clip.info.height]).toEqual([64, 48]);
    expectClipMatches(clip, fullDecode(f('two.mkv'), 64, 48), SMALL);
  });

  it('rotation metadata is applied like OpenCV 4.x (display matrix -> 90-degree turn, frames 48x64)', async () => {
    const clip = await loadVideo(f('rot90.mp4'), SMALL);
    // ffprobe 5.1 reads this file's display matrix as rotation 90 (counter-clockwise); OpenCV's
    // CAP_PROP_ORIENTATION_META is -round(that) mod 360 = 270, applied as ROTATE_90_COUNTERCLOCKWISE.
    expect(clip.info.rotation).toBe(270);
    expect([clip.info.width, clip.info.height]).toEqual([48, 64]);
    // Independent check: the unrotated frames, rotated in JS.
    const raw = fullDecode(f('rot90.mp4'), 64, 48, ['-noautorotate']);
    const rotated = raw.map((fr) => rotate(fr, 64, 48, clip.info.rotation!));
    expectClipMatches(clip, rotated, SMALL);
  });
});

describe.skipIf(!PROBE_READS_TS)(`frame size changing mid-stream (MPEG-TS)${PROBE_READS_TS ? '' : ': skipped, the bundled ffprobe crashes on MPEG-TS'}`, () => {
  it('frames keep their order and count; later ones come scaled to the first size (ffmpeg\'s behaviour)', async () => {
    const opts = { segNum: 4, seglen: 5, shortSize: 112, targetSize: 112 };
    const clip = await loadVideo(f('sizechange.ts'), opts);
    expect([clip.info.width, clip.info.height]).toEqual([64, 48]);
    const frames = fullDecode(f('sizechange.ts'), 64, 48);
    expect(frames).toHaveLength(20);
    expect(clip.info.frameCount).toBe(20);
    expect(Math.max(...clip.info.frameIndices)).toBeGreaterThanOrEqual(10); // some sampled frames are after the change
    expectClipMatches(clip, frames, opts);
  });
});

/** Rotates an RGB frame clockwise by `deg` (90/180/270), as OpenCV's cv::rotate after CAP_PROP_ORIENTATION_META. */
function rotate(src: Uint8Array, w: number, h: number, deg: number): Uint8Array {
  const out = new Uint8Array(src.length);
  const ow = deg === 180 ? w : h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let ox: number;
      let oy: number;
      if (deg === 90) [ox, oy] = [h - 1 - y, x];
      else if (deg === 270) [ox, oy] = [y, w - 1 - x];
      else [ox, oy] = [w - 1 - x, h - 1 - y];
      out.set(src.subarray((y * w + x) * 3, (y * w + x) * 3 + 3), (oy * ow + ox) * 3);
    }
  }
  return out;
}

describe('damaged and unusual files', () => {
  it('a truncated mp4 decodes what can be decoded, like the reference (N = frames that decode)', async () => {
    const clip = await loadVideo(f('truncated.mp4'), SMALL);
    expect(clip.info.containerFrameCount).toBe(60);
    const frames = fullDecode(f('truncated.mp4'), 160, 120);
    expect(frames.length).toBeGreaterThan(10);
    expect(frames.length).toBeLessThan(60);
    expect(clip.info.frameCount).toBe(frames.length);
    expectClipMatches(clip, frames, SMALL);
  });

  it.each(['still.png', 'still.jpg', 'frame%03d.png'])('%s is a one-frame video', async (name) => {
    if (name === 'frame%03d.png') copyFileSync(f('still.png'), f(name)); // not an image-sequence pattern
    const clip = await loadVideo(f(name), SMALL);
    expect(clip.info.frameCount).toBe(1);
    expect(clip.info.frameIndices).toEqual(new Array(35).fill(0));
    expectClipMatches(clip, fullDecode(f(name), 64, 48, name.includes('%') ? ['-pattern_type', 'none'] : []), SMALL);
  });

  it('paths with spaces, unicode and a leading dash are never read as options', async () => {
    const names = ['with space.mp4', 'ünï cødé 视频.mp4', '-y.mp4', '-i'];
    for (const n of names) copyFileSync(f('h264.mp4'), f(n));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      for (const n of names) {
        // relative, exactly as a user would type it
        const clip = await loadVideo(n, SMALL);
        expect(clip.info.frameCount, n).toBe(10);
      }
    } finally {
      process.chdir(cwd);
    }
    expect(existsSync(f('-y.mp4'))).toBe(true);
  });
});

describe.skipIf(!HAS_VIDEOS)(`real sample clips (reference settings 25x5, 256)${HAS_VIDEOS ? '' : `: skipped, sample videos not found at ${VIDEOS_DIR}`}`, () => {
  it('paddlevideo_example.avi: 131 frames, 320x240 -> 341x256, segments start at 2 + 5i', async () => {
    const clip = await loadVideo(join(VIDEOS_DIR, 'paddlevideo_example.avi'));
    expect(clip.dims).toEqual([1, 25, 15, 256, 256]);
    expect(clip.info.frameCount).toBe(131);
    expect(clip.info.resized).toEqual([341, 256]);
    expect(clip.info.cropOffset).toEqual({ x: 42, y: 0 });
    expect(clip.info.frameIndices.filter((_, k) => k % 5 === 0)).toEqual(Array.from({ length: 25 }, (_, i) => 2 + 5 * i));
    expectClipMatches(clip, fullDecode(join(VIDEOS_DIR, 'paddlevideo_example.avi'), 320, 240), { seglen: 5, shortSize: 256, targetSize: 256 });
    // Into a given buffer (a recycled tensor full of another clip's values): the same clip, in that buffer.
    const output = new Float32Array(clip.data.length).fill(Number.NaN);
    const again = await loadVideo(join(VIDEOS_DIR, 'paddlevideo_example.avi'), { output });
    expect(again.data).toBe(output);
    expect(Buffer.from(output.buffer).equals(Buffer.from(clip.data.buffer))).toBe(true);
  });

  it('mmaction2_demo.mp4: 280 frames, 340x256 kept as is, segments start at 5 + 11i', async () => {
    const clip = await loadVideo(join(VIDEOS_DIR, 'mmaction2_demo.mp4'));
    expect(clip.info.frameCount).toBe(280);
    expect(clip.info.resized).toEqual([340, 256]);
    expect(clip.info.cropOffset).toEqual({ x: 42, y: 0 });
    expect(clip.info.frameIndices.filter((_, k) => k % 5 === 0)).toEqual(Array.from({ length: 25 }, (_, i) => 5 + 11 * i));
    expectClipMatches(clip, fullDecode(join(VIDEOS_DIR, 'mmaction2_demo.mp4'), 340, 256), { seglen: 5, shortSize: 256, targetSize: 256 });
  });
});
