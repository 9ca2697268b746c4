// The web page against a server with a fake worker (no model, so fast): the token flow, drag and drop,
// Cancel, and the busy (429) message. The real-model page test is in model.test.ts.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverInfo, shutdownServer } from '../../src/server/app.js';
import { GateWorker, listDir, listen, waitFor, type Running } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// Browser round trips on a loaded 2-core CI machine can take seconds (expect.poll's default is 1 s).
const POLL = { timeout: 20_000 };
const HAS_CHROMIUM = existsSync(CHROMIUM);
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
