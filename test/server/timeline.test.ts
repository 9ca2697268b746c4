// POST /v1/timeline with the real model (golden seed-7 weights, seg_num 7 at 112x112), real ffmpeg and real
// videos: the window rule, a whole-video window equal to /v1/classify's answer, JSON = NDJSON, a window in seconds
// shorter than a segment, an undecodable body, a client leaving mid-stream (ffmpeg killed), and the page's timeline
// in Chromium end to end.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serverInfo } from '../../src/server/app.js';
import { windowRanges } from '../../src/timeline/windows.js';
import { KINETICS400_LABELS } from '../../src/labels/kinetics400.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, HAS_VIDEOS, VIDEOS_DIR, golden } from '../helpers/golden.js';
import { childProcesses, listDir, request, waitFor } from './helpers.js';
import { useGoldenServer } from './golden-server.js';
import type { WindowResult } from '../../src/timeline/types.js';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);
const SKIP = !HAS_GOLDEN ? GOLDEN_SKIP_REASON : !HAS_VIDEOS ? `sample videos not found in ${VIDEOS_DIR}` : '';


describe.skipIf(SKIP !== '')(`POST /v1/timeline with the golden model${SKIP === '' ? '' : ` (skipped: ${SKIP})`}`, () => {
  const s = useGoldenServer();
  // golden_testsrc2_160x120.mp4: 60 frames at 20 fps.
  const clip = (): Buffer => readFileSync(golden('golden_testsrc2_160x120.mp4'));


  it('JSON: the windows of the rule, in seconds; NDJSON gives the same windows line by line', async () => {
    const res = await request(s.port, '/v1/timeline?window=1.5&stride=1&top_k=3', { headers: { 'content-type': 'video/mp4' }, body: clip() });
    expect(res.status).toBe(200);
    const windows = JSON.parse(res.body) as WindowResult[];
    // 20 fps: L = 30, S = 20 over 60 frames.
    const rule = windowRanges(60, { length: 30, stride: 20 });
    expect(windows.map((w) => [w.window, w.startFrame, w.endFrame])).toEqual(rule.map((r) => [r.index, r.start, r.end]));
    for (const w of windows) {
      expect(w.path).toBe('upload');
      expect(w.startSec).toBeCloseTo(w.startFrame / 20, 9);
      expect(w.endSec).toBeCloseTo(w.endFrame / 20, 9);
      expect(w.predictions).toHaveLength(3);
      for (const p of w.predictions) expect(p.label).toBe(KINETICS400_LABELS[p.index]);
    }
    const nd = await request(s.port, '/v1/timeline?window=1.5&stride=1&top_k=3', { headers: { 'content-type': 'video/mp4', accept: 'application/x-ndjson' }, body: clip() });
    expect(nd.status).toBe(200);
    expect(nd.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = nd.body.trimEnd().split('\n').map((l) => JSON.parse(l) as WindowResult);
    expect(lines.map((w) => [w.window, w.startFrame, w.endFrame, w.predictions.map((p) => p.index)])).toEqual(
      windows.map((w) => [w.window, w.startFrame, w.endFrame, w.predictions.map((p) => p.index)]),
    );
    for (const [i, w] of lines.entries()) {
      for (const [k, p] of w.predictions.entries()) expect(Math.abs(p.prob - windows[i]!.predictions[k]!.prob)).toBeLessThan(1e-6);
    }
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('a window as long as the video gives /v1/classify\'s answer for it', async () => {
    const tl = await request(s.port, '/v1/timeline?window_frames=60', { headers: { 'content-type': 'video/mp4' }, body: clip() });
    const cl = await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: clip() });
    expect(tl.status).toBe(200);
    expect(cl.status).toBe(200);
    const [w, ...rest] = JSON.parse(tl.body) as WindowResult[];
    expect(rest).toEqual([]);
    expect([w!.startFrame, w!.endFrame]).toEqual([0, 60]);
    const whole = cl.json() as unknown as { predictions: WindowResult['predictions'] };
    expect(w!.predictions.map((p) => p.index)).toEqual(whole.predictions.map((p) => p.index));
    for (const [i, p] of w!.predictions.entries()) expect(Math.abs(p.prob - whole.predictions[i]!.prob)).toBeLessThan(1e-5);
  });

  it('a window in seconds shorter than one segment (0.1 s = 2 frames at 20 fps) -> 400 E_INVALID_OPTION naming window', async () => {
    const res = await request(s.port, '/v1/timeline?window=0.1', { headers: { 'content-type': 'video/mp4' }, body: clip() });
    expect(res.status).toBe(400);
    const err = res.json();
    expect(err.code).toBe('E_INVALID_OPTION');
    expect(err.message).toMatch(/\bwindow\b/);
    expect(err.message).not.toMatch(/--window|windowSec/);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('an undecodable body -> 422 with the decoder code, never the temp path', async () => {
    const res = await request(s.port, '/v1/timeline', { headers: { 'content-type': 'video/mp4', accept: 'application/x-ndjson' }, body: Buffer.from('not a video\n'.repeat(100)) });
    expect(res.status).toBe(422);
    const err = res.json();
    expect(err.code).toMatch(/^E_VIDEO_/);
    expect(err.message).not.toContain(s.tempDir);
    expect(childProcesses('ff')).toEqual([]);
  });

  it('a client that leaves after the first NDJSON window: ffmpeg is killed, the slot freed, E_CANCELLED counted', async () => {
    const video = readFileSync(join(VIDEOS_DIR, 'mmaction2_demo.mp4')); // 280 frames at 28 fps
    const first = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: s.port, path: '/v1/timeline?window_frames=28&stride_frames=28', method: 'POST', headers: { 'content-type': 'video/mp4', accept: 'application/x-ndjson' }, agent: false },
        (res) => {
          res.once('data', (c: Buffer) => {
            resolve(c.toString('utf8'));
            req.destroy();
          });
        },
      );
      req.on('error', reject);
      req.end(video);
    });
    expect(JSON.parse(first.split('\n')[0]!)).toMatchObject({ window: 0, startFrame: 0, endFrame: 28 });
    expect(await waitFor(() => childProcesses('ff').length === 0, 10_000)).toBe(true);
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0, 20_000)).toBe(true);
    expect(listDir(s.tempDir)).toEqual([]);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    expect(metrics).toMatch(/^stnet_videos_classified_total\{result="E_CANCELLED"\} 1$/m);
  });

  it.skipIf(!HAS_CHROMIUM)('the page draws the timeline of a real video from the real model, window by window', async () => {
    const { chromium } = await import('playwright-core');
    const profile = await mkdtemp(join(tmpdir(), 'stnet-chromium-'));
    // 6 s of VP8 at 10 fps (a format Chromium plays): window 2 s, stride 1 s -> 5 windows of 20 frames.
    const clipPath = join(profile, 'testsrc-6s.webm');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', '6', '-c:v', 'libvpx', '-b:v', '200k', clipPath]);
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${s.base}/`);
      await page.fill('#window', '2');
      await page.setInputFiles('#file', clipPath);
      await expect.poll(() => page.evaluate(() => (document.getElementById('preview') as HTMLVideoElement).duration), { timeout: 20_000 }).toBeCloseTo(6, 0);
      await page.click('#go');
      await expect.poll(() => page.textContent('#status'), { timeout: 120_000 }).toMatch(/^Done: "testsrc-6s\.webm": 5 windows\./);
      const bands = await page.$$eval('#timeline .band', (els) => els.map((e) => ({ text: e.textContent ?? '', w: e.getBoundingClientRect().width })));
      expect(bands).toHaveLength(5);
      const humanLabels = new Set(KINETICS400_LABELS.map((l) => l.replace(/_/g, ' ')));
      for (const b of bands) {
        expect(humanLabels.has(b.text), b.text).toBe(true);
        expect(b.w).toBeGreaterThan(0);
      }
      // The same windows the route answers as JSON: the bands' labels are their top-1s.
      const res = await request(s.port, '/v1/timeline?window=2&stride=1&top_k=5', { headers: { 'content-type': 'video/webm' }, body: readFileSync(clipPath) });
      const windows = JSON.parse(res.body) as WindowResult[];
      expect(windows.map((w) => [w.startFrame, w.endFrame])).toEqual(windowRanges(60, { length: 20, stride: 10 }).map((r) => [r.start, r.end]));
      expect(bands.map((b) => b.text)).toEqual(windows.map((w) => w.predictions[0]!.label.replace(/_/g, ' ')));
      await page.click('#timeline .band:nth-child(3)');
      await expect.poll(() => page.evaluate(() => (document.getElementById('preview') as HTMLVideoElement).currentTime), { timeout: 20_000 }).toBeCloseTo(2, 1);
      expect(await page.$$eval('#bars .bar-label', (els) => els.map((e) => e.textContent))).toEqual(windows[2]!.predictions.map((p) => p.label.replace(/_/g, ' ')));
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: new URL('server-page-timeline-model.png', ARTIFACTS).pathname, fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
    expect(listDir(s.tempDir)).toEqual([]);
  }, 180_000);
});
