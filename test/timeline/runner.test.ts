// The timeline runner and the frame stream, without a model: a recording predictor keeps each window's tensor.
// Each window's tensor must equal loadVideo's tensor of a video made of exactly that window's frames (cut
// losslessly with ffmpeg), stdin and HTTP must give the windows of the file itself, and every bad input a user
// can give gets a clear typed error with the windows before it kept.
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTimeline, type TimelinePredictor } from '../../src/timeline/runner.js';
import type { TimelineOptions, WindowResult } from '../../src/timeline/types.js';
import { loadVideo } from '../../src/video/load-video.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden } from '../helpers/golden.js';
import { closedPort } from '../helpers/net.js';
import { rejection } from '../helpers/errors.js';
import { ffmpegMake, fpsMode, mediaChildren, tempDir } from '../video/helpers.js';

const VIDEO = golden('golden_testsrc2_160x120.mp4'); // 160x120, 20 fps, 60 frames
const SMALL = { segNum: 7, shortSize: 112, targetSize: 112 } as const;

/** A predictor that records a copy of each input; probabilities favour class (sum of the tensor) mod 400. */
function recorder(): TimelinePredictor & { tensors: Float32Array[]; dims: number[][] } {
  const tensors: Float32Array[] = [];
  const dims: number[][] = [];
  return {
    tensors,
    dims,
    predict: async (data, d) => {
      tensors.push(data.slice());
      dims.push([...d]);
      const probs = new Float32Array(400);
      probs[tensors.length % 400] = 1;
      return { probs, embedding: new Float32Array(1024).fill(tensors.length) };
    },
  };
}

async function collect(input: string, opts: TimelineOptions, p = recorder()): Promise<{ windows: WindowResult[]; p: ReturnType<typeof recorder> }> {
  const windows: WindowResult[] = [];
  for await (const w of runTimeline(p, input, opts)) windows.push(w);
  return { windows, p };
}

/** Collects until the iteration fails; returns the windows before the error and the error. */
async function collectUntilError(input: string, opts: TimelineOptions): Promise<{ windows: WindowResult[]; error: unknown }> {
  const windows: WindowResult[] = [];
  try {
    for await (const w of runTimeline(recorder(), input, opts)) windows.push(w);
  } catch (error) {
    return { windows, error };
  }
  throw new Error('expected the timeline to fail');
}

function sameArray(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe.skipIf(!HAS_GOLDEN)(`timeline runner${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  let dir: string;
  /** 10 s of MPEG-TS (200 frames): long enough that ffmpeg's stream probing (5 s of data) ends before a stall. */
  let longTs: Buffer;
  beforeAll(async () => {
    dir = tempDir('timeline');
    const p = join(dir, 'long.ts');
    await ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=20:duration=10', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'mpegts', p]);
    longTs = readFileSync(p);
  });

  it('gives the rule windows with times from the stream fps, each [1, segNum, 15, T, T]', async () => {
    const { windows, p } = await collect(VIDEO, { ...SMALL, windowFrames: 20, strideFrames: 15, topK: 2, embedding: true });
    expect(windows.map((w) => [w.window, w.startFrame, w.endFrame, w.startSec, w.endSec])).toEqual([
      [0, 0, 20, 0, 1],
      [1, 15, 35, 0.75, 1.75],
      [2, 30, 50, 1.5, 2.5],
      [3, 40, 60, 2, 3],
    ]);
    expect(p.dims).toEqual(Array(4).fill([1, 7, 15, 112, 112]));
    expect(windows[2]!.predictions).toHaveLength(2);
    expect(windows[2]!.predictions[0]).toMatchObject({ index: 3, prob: 1 });
    expect(windows[2]!.embedding).toHaveLength(1024);
    expect(windows.every((w) => w.path === VIDEO)).toBe(true);
  });

  it("a window's tensor equals loadVideo's tensor of a video made of exactly its frames (lossless cut), and of the whole video", async () => {
    const { windows, p } = await collect(VIDEO, { ...SMALL, windowFrames: 20, strideFrames: 15 });
    for (const k of [1, 3]) {
      const w = windows[k]!;
      const cut = join(dir, `cut${k}.avi`);
      // ffv1 is lossless: the cut decodes to the same YUV, hence the same RGB frames.
      await ffmpegMake(['-i', VIDEO, '-vf', `select=between(n\\,${w.startFrame}\\,${w.endFrame - 1}),setpts=N/FRAME_RATE/TB`, ...fpsMode('passthrough'), '-c:v', 'ffv1', '-pix_fmt', 'yuv420p', cut]);
      const clip = await loadVideo(cut, { ...SMALL, seglen: 5 });
      expect(clip.info.frameCount).toBe(20);
      expect(sameArray(p.tensors[k]!, clip.data), `window ${k} [${w.startFrame}, ${w.endFrame})`).toBe(true);
    }
    // A window longer than the video is the whole video: loadVideo on the file itself.
    const whole = await collect(VIDEO, { ...SMALL, windowFrames: 500 });
    expect(whole.windows.map((w) => [w.startFrame, w.endFrame])).toEqual([[0, 60]]);
    const clip = await loadVideo(VIDEO, { ...SMALL, seglen: 5 });
    expect(sameArray(whole.p.tensors[0]!, clip.data)).toBe(true);
  });

  it('a window given in seconds uses L = round(w * fps) and S = max(1, round(s * fps))', async () => {
    const { windows } = await collect(VIDEO, { ...SMALL, windowSec: 1.26, strideSec: 0.74 });
    // 20 fps: L = 25, S = 15 -> [0,25) [15,40) [30,55) + tail [35,60)
    expect(windows.map((w) => [w.startFrame, w.endFrame])).toEqual([[0, 25], [15, 40], [30, 55], [35, 60]]);
  });

  it('the file piped through stdin (MPEG-TS from ffmpeg) gives exactly the windows of the file', async () => {
    const ts = join(dir, 'video.ts');
    await ffmpegMake(['-i', VIDEO, '-c', 'copy', '-f', 'mpegts', ts]);
    const opts = { ...SMALL, windowFrames: 20, strideFrames: 15 };
    const file = await collect(VIDEO, opts);
    const piped = await collect('-', { ...opts, stdin: createReadStream(ts) });
    expect(piped.windows.map((w) => ({ ...w, path: VIDEO }))).toEqual(file.windows);
    expect(piped.p.tensors.length).toBe(4);
    piped.p.tensors.forEach((t, i) => expect(sameArray(t, file.p.tensors[i]!), `window ${i}`).toBe(true));
    expect(piped.windows[0]!.path).toBe('-');
  });

  describe('over HTTP from 127.0.0.1', () => {
    let server: http.Server;
    let base: string;
    let ts: Buffer;
    beforeAll(async () => {
      const tsPath = join(dir, 'http.ts');
      await ffmpegMake(['-i', VIDEO, '-c', 'copy', '-f', 'mpegts', tsPath]);
      ts = readFileSync(tsPath);
      server = http.createServer((req, res) => {
        if (req.url === '/video.ts') {
          res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': ts.length });
          res.end(ts);
        } else if (req.url === '/stall.ts') {
          // A live source that stops sending: the first part of the stream, then nothing (connection kept open).
          res.writeHead(200, { 'content-type': 'video/mp2t' });
          res.write(longTs.subarray(0, Math.floor(longTs.length * 0.8)));
        } else {
          res.writeHead(404).end('no such stream');
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('a served file gives the windows of the file', async () => {
      const opts = { ...SMALL, windowFrames: 20, strideFrames: 15 };
      const served = await collect(`${base}/video.ts`, opts);
      const file = await collect(VIDEO, opts);
      expect(served.windows.map((w) => [w.startFrame, w.endFrame])).toEqual(file.windows.map((w) => [w.startFrame, w.endFrame]));
      served.p.tensors.forEach((t, i) => expect(sameArray(t, file.p.tensors[i]!), `window ${i}`).toBe(true));
    });

    it('a stream that stops sending fails with E_STREAM_TIMEOUT after the read timeout, the windows before it kept', async () => {
      const t0 = Date.now();
      const { windows, error } = await collectUntilError(`${base}/stall.ts`, { ...SMALL, windowFrames: 10, strideFrames: 10, readTimeoutMs: 3000 });
      expect(error).toMatchObject({ code: 'E_STREAM_TIMEOUT', message: expect.stringMatching(/stall\.ts gave no new frame after frame \d+ for 3000 ms and was stopped; raise the read timeout/) });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
      expect(windows.length).toBeGreaterThanOrEqual(8);
      expect(windows.map((w) => w.startFrame)).toEqual(windows.map((_, i) => i * 10));
      expect(mediaChildren()).toEqual([]);
    });

    it('an HTTP error names the URL (E_STREAM_UNREACHABLE)', async () => {
      const err = await rejection(collect(`${base}/missing.ts`, SMALL));
      expect(err.code).toBe('E_STREAM_UNREACHABLE');
      expect(err.message).toMatch(new RegExp(`Cannot open the stream ${base}/missing.ts: .*404`));
    });
  });

  it('an unreachable URL is E_STREAM_UNREACHABLE naming it', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/live.ts`;
    const err = await rejection(collect(url, SMALL));
    expect(err.code).toBe('E_STREAM_UNREACHABLE');
    expect(err.message).toContain(`Cannot open the stream ${url}`);
    expect(err.message).toMatch(/refused/i);
  });

  it('stdin that stops sending: E_STREAM_TIMEOUT, windows so far kept, ffmpeg ended', async () => {
    const stdin = new PassThrough();
    stdin.write(longTs.subarray(0, Math.floor(longTs.length * 0.8))); // never ended
    const { windows, error } = await collectUntilError('-', { ...SMALL, windowFrames: 10, strideFrames: 10, readTimeoutMs: 3000, stdin });
    expect(error).toMatchObject({ code: 'E_STREAM_TIMEOUT', message: expect.stringMatching(/^stdin gave no new frame/) });
    expect(windows.length).toBeGreaterThanOrEqual(2);
    expect(mediaChildren()).toEqual([]);
  });

  it('an input that never gives a first frame stops after the connect timeout', async () => {
    const stdin = new PassThrough(); // open, never written to
    const t0 = Date.now();
    const { windows, error } = await collectUntilError('-', { ...SMALL, connectTimeoutMs: 1000, stdin });
    expect(error).toMatchObject({ code: 'E_STREAM_TIMEOUT', message: expect.stringMatching(/^stdin gave no frame within 1000 ms of starting and was stopped; raise the connect timeout \(--connect_timeout/) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(windows).toEqual([]);
    expect(mediaChildren()).toEqual([]);
  });

  it('a stream without video is E_VIDEO_NO_STREAM (file and stdin)', async () => {
    const audio = join(dir, 'tone.m4a');
    await ffmpegMake(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', audio]);
    const err = await rejection(collect(audio, SMALL));
    expect(err.code).toBe('E_VIDEO_NO_STREAM');
    expect(err.message).toMatch(/tone\.m4a has no video stream/);
    const mka = join(dir, 'tone.mka');
    await ffmpegMake(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'pcm_s16le', mka]);
    const piped = await rejection(collect('-', { ...SMALL, stdin: createReadStream(mka) }));
    expect(piped).toMatchObject({ code: 'E_VIDEO_NO_STREAM', message: expect.stringMatching(/^stdin has no video stream/) });
  });

  it('stdin that is a terminal is refused with a clear error before ffmpeg starts', async () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    const err = await rejection(collect('-', { ...SMALL, stdin: tty }));
    expect(err.code).toBe('E_INVALID_OPTION');
    expect(err.message).toMatch(/stdin is a terminal; pipe one in/);
  });

  it('a missing file, a folder, an empty file and a non-video are the loader\'s errors', async () => {
    expect((await rejection(collect(join(dir, 'nope.mp4'), SMALL))).code).toBe('E_VIDEO_NOT_FOUND');
    expect((await rejection(collect(dir, SMALL))).code).toBe('E_VIDEO_NOT_FILE');
    const empty = join(dir, 'empty.mp4');
    writeFileSync(empty, '');
    expect((await rejection(collect(empty, SMALL))).code).toBe('E_VIDEO_EMPTY');
    const text = join(dir, 'text.mp4');
    writeFileSync(text, 'not a video at all\n'.repeat(100));
    expect((await rejection(collect(text, SMALL))).code).toBe('E_VIDEO_UNDECODABLE');
    expect(statSync(text).size).toBeGreaterThan(0);
  });

  it('bad options are refused before any ffmpeg work', async () => {
    const cases: [TimelineOptions, RegExp][] = [
      [{ windowSec: 10, windowFrames: 100 }, /not both/],
      [{ windowFrames: 20, strideFrames: 0 }, /stride of at least one frame/],
      [{ windowFrames: 3 }, /at least seglen \(5\) frames/],
      [{ topK: 0 }, /topK/],
      [{ readTimeoutMs: 0 }, /readTimeoutMs/],
      [{ connectTimeoutMs: 1.5 }, /connectTimeoutMs/],
      [{ windowSize: 3 } as TimelineOptions, /Unknown timeline option "windowSize"/],
    ];
    for (const [opts, message] of cases) {
      const err = await rejection(collect(join(dir, 'nope.mp4'), opts));
      expect(err.code, JSON.stringify(opts)).toBe('E_INVALID_OPTION');
      expect(err.message).toMatch(message);
    }
    // In seconds, the check needs the frame rate: 0.2 s at 20 fps is 4 frames.
    const err = await rejection(collect(VIDEO, { ...SMALL, windowSec: 0.2 }));
    expect(err).toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/windowSec \(--window on the CLI\) but received 0.2 s = 4 frames at 20 fps/) });
    expect(mediaChildren()).toEqual([]);
  });

  it('stopping early ends ffmpeg; aborting rejects with E_CANCELLED', async () => {
    for await (const w of runTimeline(recorder(), VIDEO, { ...SMALL, windowFrames: 5, strideFrames: 5 })) {
      expect(w.window).toBe(0);
      break;
    }
    expect(mediaChildren()).toEqual([]);
    const controller = new AbortController();
    const windows: WindowResult[] = [];
    const err = await rejection(
      (async () => {
        for await (const w of runTimeline(recorder(), VIDEO, { ...SMALL, windowFrames: 5, strideFrames: 5, signal: controller.signal })) {
          windows.push(w);
          if (windows.length === 2) controller.abort();
        }
      })(),
    );
    expect(err.code).toBe('E_CANCELLED');
    expect(windows).toHaveLength(2);
    expect(mediaChildren()).toEqual([]);
  });
});
