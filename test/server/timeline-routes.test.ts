// POST /v1/timeline with fake workers (fast, no model): the options that reach the worker, JSON and NDJSON
// replies, bad window options, an error after the first streamed window, a worker without timelines, and a client
// that leaves mid-stream. The real model's timelines are in timeline.test.ts.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { shutdownServer, serverInfo } from '../../src/server/app.js';
import { StnetError } from '../../src/errors.js';
import type { ServerTimelineOptions, ServerWindowResult } from '../../src/server/classifier.js';
import { FakeWorker, listDir, listen, request, useServers, waitFor } from './helpers.js';

const VIDEO = Buffer.from('pretend mp4 bytes \u0000\u0001 0123456789'.repeat(50));
const serve = useServers();

function windowAt(i: number, topK: number): ServerWindowResult {
  return {
    path: '/server/side/path',
    window: i,
    startFrame: i * 10,
    endFrame: i * 10 + 20,
    startSec: i,
    endSec: i + 2,
    predictions: ['archery', 'yoga', 'zumba', 'bowling', 'juggling_balls'].slice(0, topK).map((label, k) => ({ label, index: k + i, prob: 0.5 / (k + 1) })),
  };
}

/** Yields `count` windows, each after `gap` (or a gate), then optionally fails; records its calls. */
class TimelineWorker extends FakeWorker {
  readonly timelineCalls: Array<{ path: string; opts: ServerTimelineOptions }> = [];
  readonly ended: string[] = [];
  constructor(
    private readonly count = 3,
    private readonly opts: { failAfter?: number; gapMs?: number } = {},
  ) {
    super();
  }
  async *timeline(path: string, opts: ServerTimelineOptions): AsyncIterable<ServerWindowResult> {
    this.timelineCalls.push({ path, opts });
    try {
      for (let i = 0; i < this.count; i++) {
        if (this.opts.failAfter === i) throw new StnetError('E_STREAM_TIMEOUT', `no frame from ${path} for 30000 ms`);
        if (this.opts.gapMs !== undefined) {
          await new Promise<void>((resolve, reject) => {
            const t = setTimeout(resolve, this.opts.gapMs);
            opts.signal.addEventListener(
              'abort',
              () => {
                clearTimeout(t);
                reject(opts.signal.reason);
              },
              { once: true },
            );
          });
        }
        yield windowAt(i, opts.topK);
      }
    } finally {
      this.ended.push(opts.signal.aborted ? 'aborted' : 'done');
    }
  }
}

describe('POST /v1/timeline', () => {
  it('answers the windows as a JSON array, named as the client named the file; options reach the worker', async () => {
    const worker = new TimelineWorker(3);
    const s = await serve({ workers: [worker] });
    const form = new FormData();
    form.append('video', new Blob([VIDEO], { type: 'video/mp4' }), 'match.mp4');
    form.append('options', JSON.stringify({ window_frames: 20 }));
    form.append('stride_frames', '10');
    const res = await fetch(`${s.base}/v1/timeline?top_k=2&seg_num=7`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as ServerWindowResult[];
    expect(body).toEqual([0, 1, 2].map((i) => ({ ...windowAt(i, 2), path: 'match.mp4' })));
    const { path, opts } = worker.timelineCalls[0]!;
    expect(path.startsWith(s.tempDir)).toBe(true);
    expect({ topK: opts.topK, segNum: opts.segNum, windowFrames: opts.windowFrames, strideFrames: opts.strideFrames, windowSec: opts.windowSec }).toEqual({
      topK: 2,
      segNum: 7,
      windowFrames: 20,
      strideFrames: 10,
      windowSec: undefined,
    });
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('streams NDJSON, one window per line as each completes, for Accept: application/x-ndjson', async () => {
    const worker = new TimelineWorker(3, { gapMs: 150 });
    const s = await serve({ workers: [worker] });
    const res = await fetch(`${s.base}/v1/timeline?window=2&stride=1`, { method: 'POST', headers: { 'content-type': 'video/mp4', accept: 'application/x-ndjson' }, body: VIDEO });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    // Lines arrive one by one: read them as they come and time them.
    const reader = res.body!.getReader();
    const arrivals: number[] = [];
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
      arrivals.push(performance.now());
    }
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as ServerWindowResult);
    expect(lines).toEqual([0, 1, 2].map((i) => ({ ...windowAt(i, 5), path: 'upload' })));
    expect(arrivals.length).toBeGreaterThanOrEqual(2);
    expect(worker.timelineCalls[0]!.opts).toMatchObject({ windowSec: 2, strideSec: 1, topK: 5 });
    expect(worker.ended).toEqual(['done']);
  });

  it.each([
    ['window=2&window_frames=20', /^Expected the window in seconds \(window, stride\) or in frames \(window_frames, stride_frames\), not both, but received window, window_frames$/],
    ['window_frames=4', 'Expected integer between 5 and 1000000 for window_frames but received 4'],
    ['stride_frames=0&window_frames=10', 'Expected integer between 1 and 1000000 for stride_frames but received 0'],
    ['stride=0', 'Expected number between 0.01 and 86400 for stride but received 0'],
    ['window=ten', 'Expected number between 0.01 and 86400 for window but received "ten"'],
    ['stride_frames=5', /^Expected integer >= 1 \(required with stride_frames\) for window_frames/],
    ['windows=3', 'Unknown query parameter "windows"; expected top_k, seg_num, window, stride, window_frames or stride_frames'],
  ])('bad window option %s -> 400 E_INVALID_OPTION, the worker never called', async (query, message) => {
    const worker = new TimelineWorker();
    const s = await serve({ workers: [worker] });
    const res = await request(s.port, `/v1/timeline?${query}`, { headers: { 'content-type': 'video/mp4' }, body: VIDEO });
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ code: 'E_INVALID_OPTION', message: typeof message === 'string' ? message : expect.stringMatching(message) });
    expect(worker.timelineCalls).toEqual([]);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('a multipart field may complete the query\'s window (stride_frames in the query, window_frames in a field)', async () => {
    const worker = new TimelineWorker(1);
    const s = await serve({ workers: [worker] });
    const form = new FormData();
    form.append('video', new Blob([VIDEO]), 'a.mp4');
    form.append('window_frames', '30');
    const res = await fetch(`${s.base}/v1/timeline?stride_frames=15`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expect(worker.timelineCalls[0]!.opts).toMatchObject({ windowFrames: 30, strideFrames: 15 });
  });

  it('both units across query and multipart fields -> 400 after the upload, nothing left behind', async () => {
    const worker = new TimelineWorker();
    const s = await serve({ workers: [worker] });
    const form = new FormData();
    form.append('window_frames', '20');
    form.append('video', new Blob([VIDEO]), 'a.mp4');
    const res = await fetch(`${s.base}/v1/timeline?stride=3`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('E_INVALID_OPTION');
    expect(worker.timelineCalls).toEqual([]);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('an error before the first window answers its status; after it, the NDJSON stream ends with an error line', async () => {
    const early = new TimelineWorker(3, { failAfter: 0 });
    const s1 = await serve({ workers: [early] });
    const r1 = await request(s1.port, '/v1/timeline', { headers: { 'content-type': 'video/mp4', accept: 'application/x-ndjson' }, body: VIDEO });
    expect(r1.status).toBe(422);
    expect(r1.json()).toEqual({ code: 'E_STREAM_TIMEOUT', message: 'no frame from the upload for 30000 ms' });

    const late = new TimelineWorker(3, { failAfter: 2 });
    const s2 = await serve({ workers: [late] });
    const r2 = await request(s2.port, '/v1/timeline', { headers: { 'content-type': 'video/mp4', accept: 'application/x-ndjson' }, body: VIDEO });
    expect(r2.status).toBe(200);
    const lines = r2.body.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.slice(0, 2).map((l) => l.window)).toEqual([0, 1]);
    expect(lines[2]).toEqual({ error: { code: 'E_STREAM_TIMEOUT', message: 'no frame from the upload for 30000 ms' } });
    expect(lines).toHaveLength(3);
    const metrics = await (await fetch(`${s2.base}/metrics`)).text();
    expect(metrics).toMatch(/^stnet_videos_classified_total\{result="E_STREAM_TIMEOUT"\} 1$/m);
  });

  it('a worker that only classifies -> 501, and /v1/classify still works on it', async () => {
    const s = await serve({ workers: [new FakeWorker()] });
    const res = await request(s.port, '/v1/timeline', { headers: { 'content-type': 'video/mp4' }, body: VIDEO });
    expect(res.status).toBe(501);
    expect(res.json()).toMatchObject({ code: 'E_HTTP', message: expect.stringMatching(/use \/v1\/classify/) });
    expect((await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: VIDEO })).status).toBe(200);
  });

  it('a client that leaves mid-stream aborts the timeline: the worker stops, the slot and temp file are freed', async () => {
    const worker = new TimelineWorker(100, { gapMs: 100 });
    const s = await serve({ workers: [worker], maxQueue: 0 });
    const firstLine = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: s.port, path: '/v1/timeline', method: 'POST', headers: { 'content-type': 'video/mp4', accept: 'application/x-ndjson' }, agent: false }, (res) => {
        res.once('data', (c: Buffer) => {
          resolve(c.toString('utf8'));
          req.destroy();
        });
      });
      req.on('error', reject);
      req.end(VIDEO);
    });
    expect(JSON.parse(firstLine.split('\n')[0]!)).toMatchObject({ window: 0 });
    expect(await waitFor(() => worker.ended.length === 1, 5000)).toBe(true);
    expect(worker.ended).toEqual(['aborted']);
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0, 5000)).toBe(true);
    expect(listDir(s.tempDir)).toEqual([]);
    // The one worker is free again.
    expect((await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: VIDEO })).status).toBe(200);
  });

  it('a shutdown whose grace runs out mid-stream ends the NDJSON stream with an E_CANCELLED line and stops the worker', async () => {
    const worker = new TimelineWorker(100, { gapMs: 100 });
    const s = await listen({ workers: [worker] });
    const res = request(s.port, '/v1/timeline', { headers: { 'content-type': 'video/mp4', accept: 'application/x-ndjson' }, body: VIDEO });
    expect(await waitFor(() => worker.timelineCalls.length === 1, 5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 250));
    await shutdownServer(s.app, 0);
    const r = await res;
    expect(r.status).toBe(200);
    const lines = r.body.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toEqual({ error: { code: 'E_CANCELLED', message: expect.stringMatching(/shut down/) } });
    expect(worker.ended).toEqual(['aborted']);
    expect(worker.closed).toBe(true);
  });
});
