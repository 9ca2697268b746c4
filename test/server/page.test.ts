// The web page against a server with a fake worker (no model, so fast): the token flow, drag and drop,
// Cancel, the busy (429) message, and the timeline of a video longer than one window (bands, seeking, the bars
// following the video, progress, cancel and a mid-stream error, a 390 px screen; screenshots in test-artifacts/).
// The real-model page test is in model.test.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverInfo, shutdownServer } from '../../src/server/app.js';
import { StnetError } from '../../src/errors.js';
import { KINETICS400_LABELS } from '../../src/labels/kinetics400.js';
import type { ServerTimelineOptions, ServerWindowResult } from '../../src/server/classifier.js';
import { FakeWorker, GateWorker, listDir, listen, waitFor, type Running } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// Browser round trips on a loaded 2-core CI machine can take seconds (expect.poll's default is 1 s).
const POLL = { timeout: 20_000 };
const HAS_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);
const VIDEO = { name: 'clip.mp4', mimeType: 'video/mp4', buffer: Buffer.from('fake mp4 bytes '.repeat(64)) };

describe.skipIf(!HAS_CHROMIUM)(`web page with a fake worker${HAS_CHROMIUM ? '' : ` (skipped: ${CHROMIUM} not found; apt-get install -y chromium)`}`, () => {
  let s: Running;
  let worker: GateWorker;
  let context: BrowserContext;
  let profile: string;
  let page: Page;

  beforeAll(async () => {
    worker = new GateWorker();
    s = await listen({ workers: [worker], maxQueue: 0, token: 'page-token' });
    const { chromium } = await import('playwright-core');
    profile = await mkdtemp(join(tmpdir(), 'stnet-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${s.base}/`);
  });
  afterAll(async () => {
    await context?.close();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
    if (s !== undefined) await shutdownServer(s.app, 0);
  });

  it('asks for the token the server needs: 401 message and focus on the field, then success with it', async () => {
    await expect.poll(() => page.isVisible('#token-row'), POLL).toBe(true);
    await page.setInputFiles('#file', VIDEO);
    await page.click('#go');
    await expect.poll(() => page.textContent('#error'), POLL).toBe('Access token needed or wrong: This server needs a token: send the header "Authorization: Bearer <token>"');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('token');
    expect(worker.calls).toHaveLength(0);

    await page.keyboard.type('page-token');
    await page.click('#go');
    await worker.waitStarted(1);
    // While the request runs: Classify is disabled and Cancel is offered.
    expect(await page.isDisabled('#go')).toBe(true);
    expect(await page.isVisible('#cancel')).toBe(true);
    worker.started[0]!.release();
    await page.waitForFunction(() => document.querySelectorAll('#bars .bar-row').length === 5);
    expect(await page.$$eval('#bars .bar-label', (els) => els.map((e) => e.textContent))).toEqual(['arm wrestling', 'archery', 'abseiling', 'zumba', 'yoga']);
    expect(await page.$$eval('#bars .bar-prob', (els) => els.map((e) => e.textContent))).toEqual(['50.0 %', '25.0 %', '16.7 %', '12.5 %', '10.0 %']);
    expect(await page.$$eval('#timing dd', (els) => els.slice(2, 4).map((e) => e.textContent))).toEqual(['13 ms', '30 ms']);
    expect(await page.isHidden('#error')).toBe(true);
  });

  it('Cancel aborts the request, and the server cancels the running job', async () => {
    await page.click('#go');
    await worker.waitStarted(2);
    await page.click('#cancel');
    await expect.poll(() => page.textContent('#status'), POLL).toBe('Cancelled.');
    expect(await waitFor(() => worker.aborted.length === 1)).toBe(true);
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0)).toBe(true);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('says the server is busy (429) with the Retry-After delay', async () => {
    // Fill the only slot from outside the page.
    const busy = fetch(`${s.base}/v1/classify`, { method: 'POST', body: VIDEO.buffer, headers: { 'content-type': 'video/mp4', authorization: 'Bearer page-token' } });
    await worker.waitStarted(3);
    await page.click('#go');
    await expect.poll(() => page.textContent('#error'), POLL).toMatch(/^The server is busy: try again in \d+ s\.$/);
    worker.started[2]!.release();
    expect((await busy).status).toBe(200);
  });

  it('a file dropped on the drop zone is taken like a picked one (a non-video is refused with a message)', async () => {
    const dropFile = async (name: string, type: string): Promise<void> => {
      await page.evaluate(
        ([n, t]) => {
          const dt = new DataTransfer();
          dt.items.add(new File(['x'.repeat(100)], n!, { type: t! }));
          document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        },
        [name, type],
      );
    };
    await dropFile('slides.pdf', 'application/pdf');
    await expect.poll(() => page.textContent('#error'), POLL).toBe('"slides.pdf" is not a video file (type application/pdf). Choose a video such as .mp4, .avi, .mkv, .webm or .mov.');
    expect(await page.isDisabled('#go')).toBe(true);
    await dropFile('holiday.webm', 'video/webm');
    await expect.poll(() => page.textContent('#status'), POLL).toMatch(/^Ready: "holiday\.webm" \(0\.0 MiB\)\. Press Classify\.$/);
    expect(await page.isEnabled('#go')).toBe(true);
    expect(await page.isHidden('#error')).toBe(true);
    // The history still lists the one earlier success; choosing it redraws its chart.
    expect(await page.$$eval('#history li', (els) => els.length)).toBe(1);
  });
});

/** A fake worker whose timeline yields one window per `allow()`, with the labels the test chose; it can fail mid-stream. */
class SteppedTimelineWorker extends FakeWorker {
  readonly runs: Array<{ opts: ServerTimelineOptions; ended?: 'done' | 'aborted' | 'failed' }> = [];
  failAfter: number | undefined;
  #allowed = 0;
  #wake: Array<() => void> = [];
  constructor(private readonly labels: readonly string[]) {
    super();
  }
  /** Lets `n` more windows out. */
  allow(n = 1): void {
    this.#allowed += n;
    for (const f of this.#wake.splice(0)) f();
  }
  async *timeline(_path: string, opts: ServerTimelineOptions): AsyncIterable<ServerWindowResult> {
    const run: (typeof this.runs)[number] = { opts };
    this.runs.push(run);
    const win = opts.windowSec ?? 10;
    const stride = opts.strideSec ?? win / 2;
    const base = this.#allowed;
    try {
      for (let k = 0; k < this.labels.length; k++) {
        while (this.#allowed - base <= k) {
          await new Promise<void>((resolve, reject) => {
            this.#wake.push(resolve);
            opts.signal.addEventListener('abort', () => reject(opts.signal.reason), { once: true });
          });
        }
        if (this.failAfter === k) {
          run.ended = 'failed';
          throw new StnetError('E_VIDEO_UNDECODABLE', 'the decoder stopped in the middle of the upload');
        }
        const others = ['bowling', 'juggling_balls', 'abseiling', 'arm_wrestling'].filter((l) => l !== this.labels[k]);
        const labels = [this.labels[k]!, ...others].slice(0, opts.topK);
        yield {
          path: 'ignored',
          window: k,
          startFrame: k * stride * 10,
          endFrame: (k * stride + win) * 10,
          startSec: k * stride,
          endSec: k * stride + win,
          predictions: labels.map((label, i) => ({ label, index: KINETICS400_LABELS.indexOf(label), prob: (0.6 - 0.1 * i) / (1 + k * 0.1) })),
        };
      }
      run.ended = 'done';
    } catch (err) {
      run.ended ??= 'aborted';
      throw err;
    }
  }
}

describe.skipIf(!HAS_CHROMIUM)(`web page timeline with a fake worker${HAS_CHROMIUM ? '' : ` (skipped: ${CHROMIUM} not found; apt-get install -y chromium)`}`, () => {
  let s: Running;
  let worker: SteppedTimelineWorker;
  let context: BrowserContext;
  let profile: string;
  let page: Page;
  let clip: string;
  // 6 s at window 2 s, stride 1 s: windows start at 0, 1, 2, 3, 4.
  const LABELS = ['archery', 'archery', 'yoga', 'yoga', 'zumba'];

  beforeAll(async () => {
    worker = new SteppedTimelineWorker(LABELS);
    s = await listen({ workers: [worker], maxQueue: 1 });
    profile = await mkdtemp(join(tmpdir(), 'stnet-chromium-'));
    // A 6 s VP8 WebM: a format every Chromium build plays, so the page learns the duration.
    clip = join(profile, 'six-seconds.webm');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', '6', '-c:v', 'libvpx', '-b:v', '200k', clip]);
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--autoplay-policy=no-user-gesture-required'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.setViewportSize({ width: 1100, height: 1000 });
    await page.goto(`${s.base}/`);
  });
  afterAll(async () => {
    await context?.close();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
    if (s !== undefined) await shutdownServer(s.app, 0);
  });

  const bandTexts = (): Promise<string[]> => page.$$eval('#timeline .band', (els) => els.map((e) => e.textContent ?? ''));
  const barLabels = (): Promise<string[]> => page.$$eval('#bars .bar-label', (els) => els.map((e) => e.textContent ?? ''));

  it('a video longer than one window: progress (upload, then windows done), coloured bands, a click seeks, the bars follow the video', async () => {
    await page.fill('#window', '2');
    await page.setInputFiles('#file', clip);
    await expect.poll(() => page.evaluate(() => (document.getElementById('preview') as HTMLVideoElement).duration), POLL).toBeCloseTo(6, 0);
    await page.click('#go');
    expect(await waitFor(() => worker.runs.length === 1, 20_000)).toBe(true);
    // Uploaded, no window yet: the progress bar counts windows (5 expected for 6 s at 2 s / 1 s).
    await expect.poll(() => page.textContent('#progress-text'), POLL).toBe('Uploaded. Windows done: 0 of 5');
    expect(await page.isVisible('#progress')).toBe(true);
    expect(worker.runs[0]!.opts).toMatchObject({ windowSec: 2, strideSec: 1, topK: 5 });
    worker.allow(2);
    await expect.poll(() => page.textContent('#progress-text'), POLL).toBe('Windows done: 2 of 5');
    expect(await bandTexts()).toEqual(['archery', 'archery']);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('server-page-timeline-progress.png', ARTIFACTS).pathname, fullPage: true });
    worker.allow(3);
    await expect.poll(() => page.textContent('#status'), POLL).toMatch(/^Done: "six-seconds\.webm": 5 windows\./);
    expect(await page.isHidden('#progress')).toBe(true);
    expect(await bandTexts()).toEqual(['archery', 'archery', 'yoga', 'yoga', 'zumba']);
    // Bands laid out across time: each starts where the previous one ends, widths from the windows' starts.
    const boxes = await page.$$eval('#timeline .band', (els) => els.map((e) => {
      const r = e.getBoundingClientRect();
      return { x: r.x, w: r.width, bg: getComputedStyle(e).backgroundColor };
    }));
    const track = await page.$eval('#timeline', (e) => e.getBoundingClientRect().width);
    for (const [i, b] of boxes.entries()) {
      expect(b.w).toBeGreaterThan(0);
      if (i > 0) expect(Math.abs(b.x - (boxes[i - 1]!.x + boxes[i - 1]!.w))).toBeLessThan(1.5);
    }
    // 0-1, 1-2, 2-3, 3-4 s are one sixth of the track each; the last band runs to the end of its window (4-6 s).
    expect(boxes[0]!.w / track).toBeCloseTo(1 / 6, 2);
    expect(boxes[4]!.w / track).toBeCloseTo(2 / 6, 2);
    // One colour per top label.
    expect(boxes[0]!.bg).toBe(boxes[1]!.bg);
    expect(new Set(boxes.map((b) => b.bg)).size).toBe(3);
    expect(await page.$$eval('#legend li', (els) => els.map((e) => e.textContent))).toEqual(['archery', 'yoga', 'zumba']);

    // A click on the fourth band seeks the preview to its window and shows that window's bars.
    await page.click('#timeline .band:nth-child(4)');
    await expect.poll(() => page.evaluate(() => (document.getElementById('preview') as HTMLVideoElement).currentTime), POLL).toBeCloseTo(3, 1);
    expect(await page.textContent('#result-name')).toBe('"six-seconds.webm" at 0:03.0-0:05.0: the 5 most probable actions.');
    expect((await barLabels())[0]).toBe('yoga');
    expect(await page.getAttribute('#timeline .band:nth-child(4)', 'aria-pressed')).toBe('true');

    // Playing from 4.1 s: the bars follow to the last window.
    await page.evaluate(() => {
      const v = document.getElementById('preview') as HTMLVideoElement;
      v.currentTime = 4.1;
      void v.play();
    });
    await expect.poll(() => page.textContent('#result-name'), POLL).toBe('"six-seconds.webm" at 0:04.0-0:06.0: the 5 most probable actions.');
    expect((await barLabels())[0]).toBe('zumba');
    await page.evaluate(() => (document.getElementById('preview') as HTMLVideoElement).pause());
    expect(await page.$$eval('#bars .bar', (els) => els.map((e) => e.getBoundingClientRect().width > 0))).toEqual([true, true, true, true, true]);
    await page.screenshot({ path: new URL('server-page-timeline.png', ARTIFACTS).pathname, fullPage: true });

    // A 390 px wide screen: the bars keep a real width, the bands stay on screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const narrow = await page.$$eval('#bars .bar-row', (els) => els.map((el) => ({
      track: el.querySelector('.bar-track')!.getBoundingClientRect().width,
      bar: el.querySelector('.bar')!.getBoundingClientRect().width,
      right: el.getBoundingClientRect().right,
    })));
    for (const r of narrow) {
      expect(r.track).toBeGreaterThan(200);
      expect(r.bar).toBeGreaterThan(0);
      expect(r.right).toBeLessThanOrEqual(390);
    }
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: new URL('server-page-timeline-390px.png', ARTIFACTS).pathname, fullPage: true });
    await page.setViewportSize({ width: 1100, height: 1000 });
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('Cancel during a timeline clears the chart and cancels the work on the server', async () => {
    await page.click('#go');
    expect(await waitFor(() => worker.runs.length === 2, 20_000)).toBe(true);
    worker.allow(1);
    await expect.poll(() => bandTexts(), POLL).toEqual(['archery']);
    await page.click('#cancel');
    await expect.poll(() => page.textContent('#status'), POLL).toBe('Cancelled.');
    expect(await bandTexts()).toEqual([]);
    expect(await barLabels()).toEqual([]);
    expect(await page.isHidden('#timeline-box')).toBe(true);
    expect(await waitFor(() => worker.runs[1]!.ended === 'aborted', 10_000)).toBe(true);
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0)).toBe(true);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('an error in the middle of the stream: its message, and no chart left from before', async () => {
    // The chart of the first run, shown again from the history.
    await page.click('#history li button');
    expect(await bandTexts()).toHaveLength(5);
    worker.failAfter = 2;
    await page.click('#go');
    expect(await waitFor(() => worker.runs.length === 3, 20_000)).toBe(true);
    worker.allow(3);
    await expect.poll(() => page.textContent('#error'), POLL).toBe('The timeline stopped (E_VIDEO_UNDECODABLE): the decoder stopped in the middle of the upload');
    expect(await bandTexts()).toEqual([]);
    expect(await barLabels()).toEqual([]);
    expect(await page.textContent('#result-name')).toBe('No result yet.');
    await page.screenshot({ path: new URL('server-page-timeline-error.png', ARTIFACTS).pathname, fullPage: true });
    worker.failAfter = undefined;
  });
});
