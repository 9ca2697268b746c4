// The server with a real model (golden seed-7 weights, seg_num 7 at 112x112 to stay fast), real ffmpeg
// and real sample videos: results, undecodable bodies, cancellation of a running decode, and the page
// driven by Chromium. One model is loaded for the whole file.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serverInfo } from '../../src/server/app.js';
import { KINETICS400_LABELS } from '../../src/labels/kinetics400.js';
import { GOLDEN_DIR, GOLDEN_SKIP_REASON, HAS_GOLDEN, HAS_VIDEOS, VIDEOS_DIR, golden } from '../helpers/golden.js';
import { childProcesses, listDir, request, startRequest, waitFor } from './helpers.js';
import { useGoldenServer } from './golden-server.js';

const CHROMIUM = '/usr/bin/chromium';
// Browser round trips on a loaded 2-core CI machine can take seconds (expect.poll's default is 1 s).
const POLL = { timeout: 20_000 };
const HAS_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);

interface Expected {
  top5: Array<{ class_id: number; prob: number }>;
}

const SKIP_MODEL = !HAS_GOLDEN ? GOLDEN_SKIP_REASON : !HAS_VIDEOS ? `sample videos not found in ${VIDEOS_DIR}` : '';

describe.skipIf(SKIP_MODEL !== '')(`server with the golden model${SKIP_MODEL === '' ? '' : ` (skipped: ${SKIP_MODEL})`}`, () => {
  const s = useGoldenServer();


  it('classifies the golden video (raw body): the top-5 of expected.json, in the PaddleHub envelope', async () => {
    const expected = JSON.parse(readFileSync(join(GOLDEN_DIR, 'expected.json'), 'utf8')) as Expected;
    const res = await request(s.port, '/predict/stnet_kinetics400?top_k=5&seg_num=7', {
      headers: { 'content-type': 'video/mp4' },
      body: readFileSync(golden('golden_testsrc2_160x120.mp4')),
    });
    expect(res.status).toBe(200);
    const body = res.json() as { status: string; msg: string; results: Array<{ ok: boolean; path: string; predictions: Array<{ label: string; index: number; prob: number }>; timing: object }> };
    expect(body.status).toBe('0');
    expect(body.msg).toBe('');
    expect(body.results).toHaveLength(1);
    const r = body.results[0]!;
    expect(r.ok).toBe(true);
    expect(r.path).toBe('upload');
    expect(r.predictions.map((p) => p.index)).toEqual(expected.top5.map((t) => t.class_id));
    r.predictions.forEach((p, i) => {
      expect(p.label).toBe(KINETICS400_LABELS[p.index]);
      expect(Math.abs(p.prob - expected.top5[i]!.prob)).toBeLessThan(1e-4);
    });
    expect(r.timing).toEqual({ decodeMs: expect.any(Number), inferMs: expect.any(Number) });
    expect(res.headers['server-timing']).toMatch(/decode;dur=[\d.]+, infer;dur=[\d.]+$/);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('classifies an AVI sent as a multipart file on /v1/classify (plain VideoResult)', async () => {
    const form = new FormData();
    form.append('top_k', '3');
    form.append('video', new Blob([readFileSync(join(VIDEOS_DIR, 'paddlevideo_example.avi'))], { type: 'video/x-msvideo' }), 'paddlevideo_example.avi');
    const res = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const r = (await res.json()) as { ok: boolean; path: string; predictions: Array<{ label: string; index: number; prob: number }> };
    expect(r.ok).toBe(true);
    expect(r.path).toBe('paddlevideo_example.avi');
    expect(r.predictions).toHaveLength(3);
    for (const p of r.predictions) expect(p.label).toBe(KINETICS400_LABELS[p.index]);
    expect(r.predictions[0]!.prob).toBeGreaterThanOrEqual(r.predictions[1]!.prob);
  });

  it.each([
    ['text posing as a video', Buffer.from('this is not a video, just some text\n'.repeat(50))],
    ['a truncated mp4 (first 2 KiB)', () => readFileSync(golden('golden_testsrc2_160x120.mp4')).subarray(0, 2048)],
  ])('%s -> 422 with the decoder error code, and nothing left behind', async (_name, make) => {
    const body = typeof make === 'function' ? make() : make;
    const res = await request(s.port, '/predict/stnet_kinetics400', { headers: { 'content-type': 'video/mp4' }, body });
    expect(res.status).toBe(422);
    const err = res.json();
    expect(Object.keys(err).sort()).toEqual(['code', 'message']);
    expect(err.code).toMatch(/^E_VIDEO_(UNDECODABLE|NO_STREAM|NO_FRAMES)$/);
    // The message names the upload as the client knows it, never the server's temp path.
    expect(err.message).not.toContain(s.tempDir);
    expect(err.message).not.toMatch(/upload-[0-9a-f]{8}-/);
    expect(listDir(s.tempDir)).toEqual([]);
    expect(childProcesses('ff')).toEqual([]);
  });

  it('a client that disconnects mid-decode gets its ffmpeg killed: no ffmpeg/ffprobe child remains', async () => {
    const video = readFileSync(join(VIDEOS_DIR, 'mmaction2_demo.mp4'));
    const req = startRequest(s.port, '/v1/classify?seg_num=25', { 'content-type': 'video/mp4' }, video);
    // ffprobe then ffmpeg run for about a second on this 10 s video; catch one of them alive.
    expect(await waitFor(() => childProcesses('ff').length > 0, 20_000)).toBe(true);
    req.abort();
    expect(await waitFor(() => childProcesses('ff').length === 0, 5000)).toBe(true);
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0, 10_000)).toBe(true);
    expect(listDir(s.tempDir)).toEqual([]);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    expect(metrics).toMatch(/^stnet_videos_classified_total\{result="E_CANCELLED"\} 1$/m);
  });

  describe.skipIf(!HAS_CHROMIUM)(`web page in Chromium${HAS_CHROMIUM ? '' : ` (skipped: ${CHROMIUM} not found; apt-get install -y chromium)`}`, () => {
    it('keyboard only: pick a video, classify, see five labelled bars, timings and the history; clear messages for a non-video and a server error', async () => {
      const { chromium } = await import('playwright-core');
      const profile = await mkdtemp(join(tmpdir(), 'stnet-chromium-'));
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      });
      const offsite: string[] = [];
      try {
        const page = context.pages()[0] ?? (await context.newPage());
        page.on('request', (r) => {
          if (!r.url().startsWith(s.base) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) offsite.push(r.url());
        });
        const consoleErrors: string[] = [];
        page.on('pageerror', (e) => consoleErrors.push(e.message));
        await page.goto(`${s.base}/`);
        await expect.poll(() => page.textContent('#limit-hint'), POLL).toMatch(/^Up to 512 MiB per video\.$/);
        // This server has no token, so the page asks for none.
        expect(await page.isVisible('#token-row')).toBe(false);

        // Keyboard only: Tab to the file input, open the chooser with Space, Tab to Classify, Enter.
        let focused = '';
        for (let i = 0; i < 10 && focused !== 'file'; i++) {
          await page.keyboard.press('Tab');
          focused = await page.evaluate(() => document.activeElement?.id ?? '');
        }
        expect(focused).toBe('file');
        const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
        await chooser.setFiles(join(VIDEOS_DIR, 'mmaction2_demo.mp4'));
        await expect.poll(() => page.isEnabled('#go'), POLL).toBe(true);
        expect(await page.isVisible('#preview')).toBe(true);
        expect(await page.getAttribute('#preview', 'src')).toMatch(/^blob:/);
        // Past the video's own controls (keyboard-usable too) to the Classify button.
        for (let i = 0; i < 10 && focused !== 'go'; i++) {
          await page.keyboard.press('Tab');
          focused = await page.evaluate(() => document.activeElement?.id ?? '');
        }
        expect(focused).toBe('go');
        await page.keyboard.press('Enter');

        await page.waitForFunction(() => document.querySelectorAll('#bars .bar-row').length === 5, undefined, { timeout: 60_000 });
        const rows = await page.$$eval('#bars .bar-row', (els) =>
          els.map((el) => ({
            label: el.querySelector('.bar-label')?.textContent ?? '',
            prob: el.querySelector('.bar-prob')?.textContent ?? '',
            width: (el.querySelector('.bar') as HTMLElement | null)?.getBoundingClientRect().width ?? 0,
          })),
        );
        const humanLabels = new Set(KINETICS400_LABELS.map((l) => l.replace(/_/g, ' ')));
        for (const row of rows) {
          expect(humanLabels.has(row.label), row.label).toBe(true);
          expect(row.prob).toMatch(/^\d+\.\d %$/);
          expect(row.width).toBeGreaterThan(0);
        }
        // Bars are drawn to scale: sorted by probability, widest first.
        expect(rows.map((r) => r.width)).toEqual([...rows.map((r) => r.width)].sort((a, b) => b - a));
        const timing = await page.$$eval('#timing dt', (els) => els.map((e) => e.textContent));
        expect(timing).toEqual(['Upload', 'Waiting in queue', 'Decode + preprocess', 'Inference', 'Total (seen by this page)']);
        expect(await page.$$eval('#history li', (els) => els.length)).toBe(1);
        expect(await page.textContent('#status')).toMatch(/^Done: "mmaction2_demo\.mp4" is most likely /);
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: new URL('server-page.png', ARTIFACTS).pathname, fullPage: true });

        // A file that is not a video: refused in the page, nothing sent.
        await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
        await expect.poll(() => page.textContent('#error'), POLL).toMatch(/^"notes\.txt" is not a video file \(type text\/plain\)\. Choose a video/);
        expect(await page.isDisabled('#go')).toBe(true);

        // A ".mp4" the server cannot decode: the server's 422 is shown with its code.
        await page.setInputFiles('#file', { name: 'broken.mp4', mimeType: 'video/mp4', buffer: Buffer.from('not really an mp4'.repeat(20)) });
        await page.click('#go');
        await expect.poll(() => page.textContent('#error'), { timeout: 30_000 }).toMatch(/^The server could not read this file as a video \(E_VIDEO_[A-Z_]+\): /);
        expect(await page.$$eval('#history li', (els) => els.length)).toBe(1);
        expect(consoleErrors).toEqual([]);
      } finally {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      }
      expect(offsite).toEqual([]);
      expect(listDir(s.tempDir)).toEqual([]);
    });
  });
});
