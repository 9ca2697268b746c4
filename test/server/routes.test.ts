// Route behaviour with fake workers (fast, no model): status codes, bodies, limits, queue, auth,
// cancellation and shutdown, over real HTTP on 127.0.0.1 and with fastify's inject where that is enough.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { buildServer, serverInfo, shutdownServer } from '../../src/server/app.js';
import { ERROR_CODES } from '../../src/errors.js';
import { loadVideo } from '../../src/video/load-video.js';
import {
  FakeWorker,
  GateWorker,
  childProcesses,
  listDir,
  listen,
  okResult,
  request,
  startRequest,
  waitFor,
  useServers,
} from './helpers.js';

const VIDEO = Buffer.from('pretend mp4 bytes \u0000\u0001\u0002 0123456789'.repeat(100));
const serve = useServers();

describe('pages and probes', () => {
  it('serves the page, its script and style from this origin only, under a strict CSP', async () => {
    const app = await buildServer({ workers: [new FakeWorker()] });
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'; style-src 'self'/);
    expect(page.body).toMatch(/<input id="file" type="file"/);
    const js = await app.inject({ method: 'GET', url: '/app.js' });
    const css = await app.inject({ method: 'GET', url: '/app.css' });
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    // No CDN, font or analytics URL anywhere: the page must work with no network but this server.
    for (const text of [page.body, js.body, css.body]) expect(text).not.toMatch(/https?:\/\/|\/\/[a-z0-9-]+\.[a-z]/i);
    // Client-controlled text is never parsed as HTML.
    expect(js.body).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    await app.close();
  });

  it('GET /healthz reports the workers and queue; unknown routes get 404 { code, message }', async () => {
    const app = await buildServer({ workers: [new FakeWorker(), new FakeWorker()], maxQueue: 3 });
    const h = await app.inject({ method: 'GET', url: '/healthz' });
    expect(h.statusCode).toBe(200);
    expect(h.json()).toEqual({ status: 'ok', modelLoaded: true, workers: 2, running: 0, queueDepth: 0, capacity: 5, auth: false, maxUploadBytes: 512 * 1024 * 1024 });
    const nf = await app.inject({ method: 'GET', url: '/etc/passwd' });
    expect(nf.statusCode).toBe(404);
    expect(nf.json()).toEqual({ code: 'E_HTTP', message: expect.stringMatching(/^No route GET \/etc\/passwd/) });
    await app.close();
  });

  it('rejects bad server options before creating anything', async () => {
    await expect(buildServer({ workers: [] })).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/workers/) });
    await expect(buildServer({ workers: [new FakeWorker()], maxUploadBytes: 0 })).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: 'Expected integer >= 1 for maxUploadBytes but received 0',
    });
    await expect(buildServer({ workers: [new FakeWorker()], token: '' })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
  });
});

describe('classification routes', () => {
  it('POST /predict/stnet_kinetics400 (raw body) answers the PaddleHub envelope; the worker saw the exact bytes under a generated name in a 0700 dir', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker] });
    expect(statSync(s.tempDir).mode & 0o777).toBe(0o700);
    const res = await request(s.port, '/predict/stnet_kinetics400?top_k=3&seg_num=7', { headers: { 'content-type': 'video/mp4' }, body: VIDEO });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: '0', msg: '', results: [{ ...okResult('upload', 3) }] });
    expect(res.headers['server-timing']).toMatch(/^upload;dur=[\d.]+, queue;dur=[\d.]+, decode;dur=12\.5, infer;dur=30\.3$/);
    expect(worker.calls).toHaveLength(1);
    const call = worker.calls[0]!;
    expect(call.bytes.equals(VIDEO)).toBe(true);
    expect(call.path).toMatch(new RegExp(`^${s.tempDir}/upload-[0-9a-f-]{36}$`));
    expect(call.opts.topK).toBe(3);
    expect(call.opts.segNum).toBe(7);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('POST /v1/classify answers the plain VideoResult; application/octet-stream is taken too', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker] });
    const res = await request(s.port, '/v1/classify', { headers: { 'content-type': 'application/octet-stream' }, body: VIDEO });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual(okResult('upload', 5));
    expect(worker.calls[0]!.opts.segNum).toBeUndefined();
  });

  it('takes a multipart file field: options from fields, the client file name only as a label', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker] });
    const form = new FormData();
    form.append('options', JSON.stringify({ top_k: 2 }));
    form.append('seg_num', '9');
    form.append('video', new Blob([VIDEO], { type: 'video/mp4' }), '../../etc/passwd');
    const res = await fetch(`${s.base}/predict/stnet_kinetics400`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: Array<{ path: string; predictions: unknown[] }> };
    expect(body.results[0]!.path).toBe('passwd');
    expect(body.results[0]!.predictions).toHaveLength(2);
    const call = worker.calls[0]!;
    expect(call.bytes.equals(VIDEO)).toBe(true);
    expect(call.path.startsWith(`${s.tempDir}/upload-`)).toBe(true);
    expect(call.opts).toMatchObject({ topK: 2, segNum: 9 });
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('multipart without a file, or with a bad option field, is a 400 with { code, message }', async () => {
    const s = await serve({ workers: [new FakeWorker()] });
    const noFile = new FormData();
    noFile.append('top_k', '3');
    let res = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: noFile });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 'E_HTTP', message: expect.stringMatching(/multipart body has no file/) });
    const badField = new FormData();
    badField.append('topk', '3');
    badField.append('video', new Blob([VIDEO]), 'a.mp4');
    res = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: badField });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 'E_INVALID_OPTION', message: 'Unknown multipart field "topk"; expected top_k, seg_num or options' });
  });

  it('multipart fields after the file count like fields before it; a typo after the file is refused', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker] });
    const after = new FormData();
    after.append('video', new Blob([VIDEO], { type: 'video/mp4' }), 'a.avi');
    after.append('top_k', '3');
    after.append('seg_num', '7');
    let res = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: after });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { predictions: unknown[] }).predictions).toHaveLength(3);
    expect(worker.calls[0]!.opts).toMatchObject({ topK: 3, segNum: 7 });
    // A field after the file wins over the query, as one before it does; `options` JSON is overridden by single fields.
    const mixed = new FormData();
    mixed.append('options', JSON.stringify({ top_k: 4, seg_num: 9 }));
    mixed.append('video', new Blob([VIDEO]), 'b.avi');
    mixed.append('top_k', '2');
    res = await fetch(`${s.base}/v1/classify?top_k=6`, { method: 'POST', body: mixed });
    expect(res.status).toBe(200);
    expect(worker.calls[1]!.opts).toMatchObject({ topK: 2, segNum: 9 });
    for (const [name, value, message] of [
      ['topk', '2', 'Unknown multipart field "topk"; expected top_k, seg_num or options'],
      ['top_k', '0', 'Expected integer between 1 and 400 for top_k but received 0'],
      ['seg_num', 'x', 'Expected integer between 1 and 100 for seg_num but received "x"'],
    ] as const) {
      const typo = new FormData();
      typo.append('video', new Blob([VIDEO]), 'c.avi');
      typo.append(name, value);
      res = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: typo });
      expect(res.status, name).toBe(400);
      expect(await res.json()).toEqual({ code: 'E_INVALID_OPTION', message });
    }
    const badJson = new FormData();
    badJson.append('video', new Blob([VIDEO]), 'd.avi');
    badJson.append('options', JSON.stringify({ top_k: 2, topK: 3 }));
    res = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: badJson });
    expect(await res.json()).toEqual({ code: 'E_INVALID_OPTION', message: 'Unknown option "topK"; expected top_k or seg_num' });
    // No refused request reached a worker, and nothing stays in the temp dir.
    expect(worker.calls).toHaveLength(2);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('a second file in one multipart body -> 400 saying one video per request', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker] });
    const two = new FormData();
    two.append('video', new Blob([VIDEO]), 'a.avi');
    two.append('video2', new Blob([VIDEO]), 'b.avi');
    const res = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: two });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 'E_HTTP', message: 'The multipart body has more than one file: send one video per request' });
    expect(worker.calls).toHaveLength(0);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it.each([
    ['a boundary and no parts', 'multipart/form-data; boundary=XyZ', '--XyZ\r\n'],
    ['a part cut short', 'multipart/form-data; boundary=XyZ', '--XyZ\r\ncontent-disposition: form-data; name="video"; filename="a.avi"\r\n\r\nsome bytes'],
    ['no boundary', 'multipart/form-data', '--XyZ\r\n\r\n'],
  ])('a malformed multipart body (%s) -> 400 E_HTTP, not a server error', async (_name, type, body) => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker] });
    const res = await request(s.port, '/v1/classify', { headers: { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) }, body: Buffer.from(body) });
    expect(res.status, res.body).toBe(400);
    expect(res.json()).toEqual({ code: 'E_HTTP', message: expect.stringMatching(/^Malformed multipart body \(.+\): send multipart\/form-data as curl -F "video=@clip\.mp4" or a browser's FormData builds it$/) });
    expect(worker.calls).toHaveLength(0);
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0)).toBe(true);
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('an undecodable upload: the decoder message names the video as the client named it, no temp path or "file:" internals', async () => {
    // A worker that runs the real decoder front (ffprobe via loadVideo) on the upload.
    const worker = new FakeWorker(async (c) => {
      await loadVideo(c.path, { segNum: 1, signal: c.opts.signal });
      return okResult(c.path);
    });
    const s = await serve({ workers: [worker] });
    const text = Buffer.from('this is not a video, just some text\n'.repeat(50));
    const form = new FormData();
    form.append('video', new Blob([text], { type: 'video/x-msvideo' }), 'holiday.avi');
    const named = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: form });
    expect(named.status).toBe(422);
    const body = (await named.json()) as { code: string; message: string };
    expect(body.code).toBe('E_VIDEO_UNDECODABLE');
    expect(body.message).toMatch(/^ffprobe cannot read "holiday\.avi" as a video: \S/);
    const raw = await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: text });
    expect(raw.status).toBe(422);
    expect(raw.json().message).toMatch(/^ffprobe cannot read the upload as a video: \S/);
    for (const message of [body.message, raw.json().message as string]) {
      expect(message).not.toMatch(/file:|upload-|stnet-serve-/);
      expect(message).not.toContain(s.tempDir);
    }
  });

  it.each([
    ['top_k=0', 'Expected integer between 1 and 400 for top_k but received 0'],
    ['top_k=401', 'Expected integer between 1 and 400 for top_k but received 401'],
    ['top_k=abc', 'Expected integer between 1 and 400 for top_k but received "abc"'],
    ['seg_num=1.5', 'Expected integer between 1 and 100 for seg_num but received "1.5"'],
    ['top_k=1&top_k=2', /^Expected a single integer for top_k but received 1,2$/],
    ['topk=5', 'Unknown query parameter "topk"; expected top_k or seg_num'],
  ])('bad option %s -> 400 E_INVALID_OPTION before the body is read', async (query, message) => {
    const worker = new FakeWorker();
    const app = await buildServer({ workers: [worker] });
    const res = await app.inject({ method: 'POST', url: `/v1/classify?${query}`, headers: { 'content-type': 'video/mp4' }, payload: VIDEO });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ code: 'E_INVALID_OPTION', message: typeof message === 'string' ? message : expect.stringMatching(message) });
    expect(worker.calls).toHaveLength(0);
    await app.close();
  });

  it.each([
    ['application/json', '{"video": "x"}', /^Unsupported Content-Type "application\/json": send the video as the body with Content-Type video\/\* or application\/octet-stream, or as a multipart\/form-data file field$/],
    ['text/plain', 'hello', /Unsupported Content-Type "text\/plain"/],
    ['image/png', 'png', /Unsupported Content-Type "image\/png"/],
    [undefined, 'bytes', /Unsupported Content-Type \(none\)/],
  ])('Content-Type %s -> 415 { code, message }', async (type, payload, message) => {
    const worker = new FakeWorker();
    const app = await buildServer({ workers: [worker] });
    const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
    const res = await app.inject({ method: 'POST', url: '/predict/stnet_kinetics400', headers, payload });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toEqual({ code: 'E_HTTP', message: expect.stringMatching(message) });
    expect(worker.calls).toHaveLength(0);
    await app.close();
  });

  it('an empty body -> 422 E_VIDEO_EMPTY without bothering a worker', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker] });
    const res = await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4', 'content-length': '0' } });
    expect(res.status).toBe(422);
    expect(res.json()).toEqual({ code: 'E_VIDEO_EMPTY', message: expect.stringMatching(/empty \(0 bytes\)/) });
    expect(worker.calls).toHaveLength(0);
  });

  it("a worker's per-video error becomes its HTTP status with { code, message }: input -> 422, environment -> 500", async () => {
    const worker = new FakeWorker(async (c) =>
      c.bytes.toString().startsWith('env')
        ? { path: c.path, ok: false, error: { code: 'E_FFMPEG_MISSING', message: 'no ffmpeg' } }
        : { path: c.path, ok: false, error: { code: 'E_VIDEO_UNDECODABLE', message: 'ffmpeg cannot read the file as a video' } },
    );
    const s = await serve({ workers: [worker] });
    let res = await request(s.port, '/predict/stnet_kinetics400', { headers: { 'content-type': 'video/mp4' }, body: Buffer.from('not a video') });
    expect(res.status).toBe(422);
    expect(res.json()).toEqual({ code: 'E_VIDEO_UNDECODABLE', message: 'ffmpeg cannot read the file as a video' });
    res = await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: Buffer.from('env') });
    expect(res.status).toBe(500);
    expect(res.json()).toEqual({ code: 'E_FFMPEG_MISSING', message: 'no ffmpeg' });
    expect(listDir(s.tempDir)).toEqual([]);
  });

  it('a worker that throws answers 500 { code, message } and frees the worker for the next request', async () => {
    let n = 0;
    const worker = new FakeWorker(async (c) => {
      if (n++ === 0) throw new Error('boom');
      return okResult(c.path);
    });
    const s = await serve({ workers: [worker] });
    const bad = await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: VIDEO });
    expect(bad.status).toBe(500);
    expect(bad.json()).toEqual({ code: 'E_RUNTIME', message: 'internal server error: boom' });
    const good = await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: VIDEO });
    expect(good.status).toBe(200);
  });
});

describe('upload limit (413)', () => {
  const LIMIT = 256 * 1024;

  it('a declared Content-Length over the limit is refused before any byte is read', async () => {
    const worker = new FakeWorker();
    const app = await buildServer({ workers: [worker], maxUploadBytes: LIMIT });
    const res = await app.inject({ method: 'POST', url: '/v1/classify', headers: { 'content-type': 'video/mp4' }, payload: Buffer.alloc(LIMIT + 1) });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({
      code: 'E_HTTP',
      message: 'The upload is 0.250 MiB, over this server\'s limit of 0.250 MiB: send a shorter or smaller video, or start the server with a higher --max_upload_mb',
    });
    expect(worker.calls).toHaveLength(0);
    await app.close();
  });

  it('a chunked body (no Content-Length) is cut at the limit: 413, nothing past the limit kept, temp dir empty', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker], maxUploadBytes: LIMIT });
    // 8x the limit, sent in 16 KiB chunks with chunked transfer encoding.
    const res = await request(s.port, '/predict/stnet_kinetics400', { headers: { 'content-type': 'video/webm' }, body: Buffer.alloc(8 * LIMIT, 7), chunkSize: 16 * 1024 });
    expect(res.status).toBe(413);
    expect(res.json()).toEqual({ code: 'E_HTTP', message: expect.stringMatching(/^The upload is more than 0\.250 MiB, over this server's limit of 0\.250 MiB/) });
    expect(worker.calls).toHaveLength(0);
    expect(listDir(s.tempDir)).toEqual([]);
    // A body of exactly the limit is fine.
    const ok = await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/webm' }, body: Buffer.alloc(LIMIT, 1), chunkSize: 16 * 1024 });
    expect(ok.status).toBe(200);
    expect(worker.calls[0]!.bytes.length).toBe(LIMIT);
  });

  it('a multipart file over the limit -> 413', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker], maxUploadBytes: LIMIT });
    const form = new FormData();
    form.append('video', new Blob([Buffer.alloc(LIMIT + 10)]), 'big.mp4');
    const res = await fetch(`${s.base}/v1/classify`, { method: 'POST', body: form });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('E_HTTP');
    expect(worker.calls).toHaveLength(0);
    expect(listDir(s.tempDir)).toEqual([]);
  });
});

describe('queue (429) and cancellation', () => {
  it('with every worker busy and the queue full, the next request gets 429 + Retry-After; the queued ones still finish', async () => {
    const worker = new GateWorker();
    const s = await serve({ workers: [worker], maxQueue: 1 });
    const h = { 'content-type': 'video/mp4' };
    const first = request(s.port, '/v1/classify', { headers: h, body: VIDEO });
    await worker.waitStarted(1);
    const second = request(s.port, '/v1/classify', { headers: h, body: VIDEO });
    expect(await waitFor(() => serverInfo(s.app)!.waiting === 1)).toBe(true);
    const third = await request(s.port, '/v1/classify', { headers: h, body: VIDEO });
    expect(third.status).toBe(429);
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(third.json()).toEqual({ code: 'E_HTTP', message: expect.stringMatching(/^All 2 request slots are taken \(every worker busy and the queue full\): retry after \d+ s$/) });
    const health = await (await fetch(`${s.base}/healthz`)).json();
    expect(health).toMatchObject({ running: 1, queueDepth: 1, capacity: 2 });
    worker.started[0]!.release();
    await worker.waitStarted(2);
    worker.started[1]!.release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    expect(metrics).toMatch(/^stnet_queue_rejected_total 1$/m);
    expect(metrics).toMatch(/^stnet_http_requests_total\{method="POST",route="\/v1\/classify",status="429"\} 1$/m);
    expect(metrics).toMatch(/^stnet_http_requests_total\{method="POST",route="\/v1\/classify",status="200"\} 2$/m);
  });

  it('two workers run two videos at once, each on its own worker; the third waits for the first free one', async () => {
    const a = new GateWorker();
    const b = new GateWorker();
    const s = await serve({ workers: [a, b], maxQueue: 1 });
    const h = { 'content-type': 'video/mp4' };
    const r1 = request(s.port, '/v1/classify', { headers: h, body: VIDEO });
    const r2 = request(s.port, '/v1/classify', { headers: h, body: VIDEO });
    await a.waitStarted(1);
    await b.waitStarted(1);
    expect(serverInfo(s.app)).toMatchObject({ running: 2, waiting: 0 });
    const r3 = request(s.port, '/v1/classify', { headers: h, body: VIDEO });
    expect(await waitFor(() => serverInfo(s.app)!.waiting === 1)).toBe(true);
    b.started[0]!.release();
    await b.waitStarted(2);
    expect(a.started).toHaveLength(1);
    a.started[0]!.release();
    b.started[1]!.release();
    expect([(await r1).status, (await r2).status, (await r3).status]).toEqual([200, 200, 200]);
  });

  it('many requests in flight at once raise no MaxListenersExceeded warning (one shutdown listener each)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const worker = new GateWorker();
      const s = await serve({ workers: [worker], maxQueue: 14 });
      const all = Array.from({ length: 15 }, () => request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: VIDEO }));
      await worker.waitStarted(1);
      expect(await waitFor(() => serverInfo(s.app)!.waiting === 14)).toBe(true);
      for (let i = 0; i < 15; i++) {
        await worker.waitStarted(i + 1);
        worker.started[i]!.release();
      }
      expect((await Promise.all(all)).map((r) => r.status)).toEqual(Array(15).fill(200));
      await new Promise((r) => setImmediate(r));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a client that disconnects cancels its running job (signal aborted) and its queued job (never started)', async () => {
    const worker = new GateWorker();
    const s = await serve({ workers: [worker], maxQueue: 4 });
    const h = { 'content-type': 'video/mp4' };
    const running1 = startRequest(s.port, '/v1/classify', h, VIDEO);
    await worker.waitStarted(1);
    const queued = startRequest(s.port, '/v1/classify', h, VIDEO);
    expect(await waitFor(() => serverInfo(s.app)!.waiting === 1)).toBe(true);
    queued.abort();
    expect(await waitFor(() => serverInfo(s.app)!.waiting === 0)).toBe(true);
    running1.abort();
    expect(await waitFor(() => worker.aborted.length === 1)).toBe(true);
    expect(worker.started[0]!.signal.aborted).toBe(true);
    expect((worker.started[0]!.signal.reason as { code: string }).code).toBe('E_CANCELLED');
    // The queued job never reached a worker, every slot is free and the uploads are gone.
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0)).toBe(true);
    expect(worker.started).toHaveLength(1);
    expect(listDir(s.tempDir)).toEqual([]);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    expect(metrics).toMatch(/^stnet_videos_classified_total\{result="E_CANCELLED"\} 2$/m);
    // The server is still healthy.
    worker.started.length = 0;
    const after = request(s.port, '/v1/classify', { headers: h, body: VIDEO });
    await worker.waitStarted(1);
    worker.started[0]!.release();
    expect((await after).status).toBe(200);
  });

  it('a disconnect kills the ffmpeg child a worker started (no orphan process)', async () => {
    // A worker shaped like the real one: runs ffmpeg on the upload and kills it when the signal aborts.
    let pid = 0;
    const worker = new FakeWorker(
      (c) =>
        new Promise((resolve, reject) => {
          const child = spawn('ffmpeg', ['-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=10:duration=60', '-f', 'null', '-'], { stdio: 'ignore' });
          pid = child.pid ?? 0;
          const onAbort = (): void => void child.kill('SIGKILL');
          c.opts.signal.addEventListener('abort', onAbort, { once: true });
          child.on('close', () => {
            c.opts.signal.removeEventListener('abort', onAbort);
            if (c.opts.signal.aborted) reject(c.opts.signal.reason);
            else resolve(okResult(c.path));
          });
          child.on('error', reject);
        }),
    );
    const s = await serve({ workers: [worker] });
    const req = startRequest(s.port, '/v1/classify', { 'content-type': 'video/mp4' }, VIDEO);
    expect(await waitFor(() => childProcesses('ffmpeg').length === 1)).toBe(true);
    expect(pid).toBeGreaterThan(0);
    req.abort();
    expect(await waitFor(() => childProcesses('ffmpeg').length === 0)).toBe(true);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0)).toBe(true);
    expect(listDir(s.tempDir)).toEqual([]);
  });
});

describe('stalled uploads (408)', () => {
  it('an upload that stops sending is dropped after the idle timeout and its slot is freed', async () => {
    const worker = new FakeWorker();
    const s = await serve({ workers: [worker], maxQueue: 0, uploadIdleMs: 300 });
    const req = http.request({ host: '127.0.0.1', port: s.port, path: '/v1/classify', method: 'POST', headers: { 'content-type': 'video/mp4', 'content-length': '100000' }, agent: false });
    const got = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    req.write(Buffer.alloc(1000));
    const t0 = Date.now();
    const res = await got;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body)).toEqual({ code: 'E_HTTP', message: 'The upload stalled: no data for 0.3 s. Send the whole body without pauses' });
    req.destroy();
    expect(await waitFor(() => serverInfo(s.app)!.admitted === 0)).toBe(true);
    expect(listDir(s.tempDir)).toEqual([]);
    // The only slot is free again.
    expect((await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: VIDEO })).status).toBe(200);
  });
});

describe('bearer token', () => {
  it('off: no header needed; on: 401 without or with a wrong token, 200 with the right one; /healthz and / stay open', async () => {
    const open = await buildServer({ workers: [new FakeWorker()] });
    const r0 = await open.inject({ method: 'POST', url: '/v1/classify', headers: { 'content-type': 'video/mp4' }, payload: VIDEO });
    expect(r0.statusCode).toBe(200);
    await open.close();

    const s = await serve({ workers: [new FakeWorker()], token: 's3cret-token' });
    const h = { 'content-type': 'video/mp4' };
    const none = await request(s.port, '/predict/stnet_kinetics400', { headers: h, body: VIDEO });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="stnet"');
    expect(none.json()).toEqual({ code: 'E_HTTP', message: 'This server needs a token: send the header "Authorization: Bearer <token>"' });
    for (const auth of ['Bearer wrong', 'Bearer s3cret-token-and-more', 'Bearer s3cret-toke', 'Basic czNjcmV0LXRva2Vu']) {
      const bad = await request(s.port, '/v1/classify', { headers: { ...h, authorization: auth }, body: VIDEO });
      expect(bad.status, auth).toBe(401);
    }
    const good = await request(s.port, '/v1/classify', { headers: { ...h, authorization: 'Bearer s3cret-token' }, body: VIDEO });
    expect(good.status).toBe(200);
    expect((await fetch(`${s.base}/metrics`)).status).toBe(401);
    expect((await fetch(`${s.base}/metrics`, { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    expect(await (await fetch(`${s.base}/healthz`)).json()).toMatchObject({ status: 'ok', auth: true });
    expect((await fetch(`${s.base}/`)).status).toBe(200);
  });
});

describe('metrics', () => {
  it('GET /metrics is Prometheus text with requests by status, a latency histogram, queue gauges and videos classified', async () => {
    const s = await serve({ workers: [new FakeWorker()] });
    await request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: VIDEO });
    await request(s.port, '/v1/classify', { headers: { 'content-type': 'text/plain' }, body: VIDEO });
    const res = await fetch(`${s.base}/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toMatch(/^stnet_http_requests_total\{method="POST",route="\/v1\/classify",status="200"\} 1$/m);
    expect(text).toMatch(/^stnet_http_requests_total\{method="POST",route="\/v1\/classify",status="415"\} 1$/m);
    expect(text).toMatch(/^# TYPE stnet_http_request_duration_seconds histogram$/m);
    expect(text).toMatch(/^stnet_http_request_duration_seconds_bucket\{le="\+Inf",route="\/v1\/classify"\} 2$/m);
    expect(text).toMatch(/^stnet_http_request_duration_seconds_count\{route="\/v1\/classify"\} 2$/m);
    expect(text).toMatch(/^stnet_videos_classified_total\{result="ok"\} 1$/m);
    expect(text).toMatch(/^stnet_queue_depth 0$/m);
    expect(text).toMatch(/^stnet_workers 1$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    // Every sample line is `name{labels} value` (what a Prometheus parser accepts).
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) .+|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+|[a-z_]+\{.*\} \+?Inf)$/);
  });
});

describe('upload dirs of killed servers', () => {
  it('a new server removes stnet-serve-<pid>-* dirs whose process is gone, and nothing else', async () => {
    const root = mkdtempSync(join(tmpdir(), 'stnet-sweep-test-'));
    try {
      // A pid that just exited (reuse within this test is practically impossible).
      const dead = await new Promise<number>((resolve) => {
        const c = spawn(process.execPath, ['-e', '']);
        c.on('exit', () => resolve(c.pid!));
      });
      const stale = join(root, `stnet-serve-${dead}-AbC123`);
      mkdirSync(stale);
      writeFileSync(join(stale, 'upload-1'), 'left behind by a SIGKILL');
      const live = join(root, `stnet-serve-${process.pid}-Live12`);
      mkdirSync(live);
      const other = join(root, 'stnet-serve-notapid');
      mkdirSync(other);
      const file = join(root, `stnet-serve-${dead}-file12`);
      writeFileSync(file, 'a file, not a dir');
      const app = await buildServer({ workers: [new FakeWorker()], tempRoot: root });
      const mine = serverInfo(app)!.tempDir;
      expect(mine).toMatch(new RegExp(`/stnet-serve-${process.pid}-[A-Za-z0-9]{6}$`));
      expect(existsSync(stale)).toBe(false);
      expect([existsSync(live), existsSync(other), existsSync(file)]).toEqual([true, true, true]);
      await app.close();
      expect(existsSync(mine)).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('graceful shutdown', () => {
  it('lets a request in flight finish, refuses new connections, closes the workers and removes the temp dir', async () => {
    const worker = new GateWorker();
    const s = await listen({ workers: [worker], tempRoot: tmpdir() });
    const inflight = request(s.port, '/v1/classify', { headers: { 'content-type': 'video/mp4' }, body: VIDEO });
    await worker.waitStarted(1);
    const closing = shutdownServer(s.app, 5000);
    expect(await waitFor(() => serverInfo(s.app)!.closing)).toBe(true);
    await expect(fetch(`${s.base}/healthz`)).rejects.toThrow();
    setTimeout(() => worker.started[0]!.release(), 100);
    expect((await inflight).status).toBe(200);
    await closing;
    expect(worker.closed).toBe(true);
    expect(existsSync(s.tempDir)).toBe(false);
  });

  it('cancels work still running when the grace period is over: 503 E_CANCELLED', async () => {
    const worker = new GateWorker();
    const s = await listen({ workers: [worker] });
    const inflight = request(s.port, '/predict/stnet_kinetics400', { headers: { 'content-type': 'video/mp4' }, body: VIDEO });
    await worker.waitStarted(1);
    const t0 = Date.now();
    await shutdownServer(s.app, 200);
    expect(Date.now() - t0).toBeLessThan(3000);
    const res = await inflight;
    expect(res.status).toBe(503);
    expect(res.json()).toEqual({ code: 'E_CANCELLED', message: 'The server shut down before this video was classified: retry later' });
    expect(worker.aborted).toHaveLength(1);
    expect(worker.closed).toBe(true);
    expect(existsSync(s.tempDir)).toBe(false);
  });
});

describe('error codes', () => {
  it('E_HTTP is a documented code', () => {
    expect(ERROR_CODES.E_HTTP.meaning).toMatch(/401.*413.*415.*429/);
  });
});
