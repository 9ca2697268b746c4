// Downloads against a local HTTP server on 127.0.0.1 (never the real URL): success, fallback, 404,
// a connection cut mid-way, a body that is not weights, a stalled server, a refused connection.
// After each failure the cache must hold nothing that could pass for weights.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StnetError } from '../../src/errors.js';
import { cacheFileName, findCachedWeights, OFFICIAL_WEIGHTS_URLS, removeStalePartials } from '../../src/weights/cache.js';
import { downloadTimeoutMs, downloadWeights } from '../../src/weights/download.js';
import { resolveWeights, weightsUrls } from '../../src/weights/resolve.js';
import { HAS_GOLDEN, goldenXz } from '../helpers/golden.js';
import { closedPort } from '../helpers/net.js';

interface Served {
  server: http.Server;
  base: string;
  /** Requests seen, by path. */
  hits: string[];
  /** Sockets to destroy at the end (the stalled ones would keep the server open). */
  sockets: Set<import('node:net').Socket>;
}

const SMALL = Buffer.alloc(70_000, 7);
let weightsFile = '';
let weightsSize = 0;
let srv: Served;
let home = '';
const savedEnv = { ...process.env };

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function startServer(): Promise<Served> {
  const hits: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    hits.push(url);
    if (url.endsWith('/missing/STNET.pdparams') || url.endsWith('/fallback/STNET.pdparams')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such file');
    } else if (url.endsWith('/good/STNET.pdparams')) {
      res.writeHead(200, { 'content-length': weightsSize, 'content-type': 'application/octet-stream' });
      createReadStream(weightsFile).pipe(res);
    } else if (url.endsWith('/small/STNET.pdparams') || url.endsWith('/fallback/STNET_final.pdparams')) {
      // Redirect and fallback tests only check where bytes land: a small body, validated by a no-op.
      res.writeHead(200, { 'content-length': SMALL.length }).end(SMALL);
    } else if (url.endsWith('/redirect/STNET.pdparams')) {
      res.writeHead(302, { location: '/small/STNET.pdparams' }).end();
    } else if (url.endsWith('/html/STNET.pdparams')) {
      const body = '<!DOCTYPE html><html><body>Access denied</body></html>\n';
      res.writeHead(200, { 'content-length': Buffer.byteLength(body), 'content-type': 'text/html' }).end(body);
    } else if (url.endsWith('/cut/STNET.pdparams')) {
      // Promise the whole file, send 1 MiB of it, then drop the connection.
      res.writeHead(200, { 'content-length': weightsSize });
      const head = Buffer.alloc(1 << 20);
      const fd = openSync(weightsFile, 'r');
      readSync(fd, head, 0, head.length, 0);
      closeSync(fd);
      res.write(head, () => setTimeout(() => req.socket.destroy(), 50));
    } else if (url.endsWith('/stall/STNET.pdparams')) {
      // Headers and a few bytes, then silence (the socket stays open).
      res.writeHead(200, { 'content-length': weightsSize });
      res.write(Buffer.alloc(4096));
    } else if (url.endsWith('/stallheaders/STNET.pdparams')) {
      // Accepts the connection, never answers.
    } else {
      res.writeHead(500).end();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, hits, sockets };
}


function cacheListing(): string[] {
  try {
    return readdirSync(join(home, 'weights')).sort();
  } catch {
    return [];
  }
}

describe.skipIf(!HAS_GOLDEN)('weights download (local server)', () => {
  beforeAll(async () => {
    weightsFile = await goldenXz('stnet_seed7_q.lodtensor');
    weightsSize = statSync(weightsFile).size;
    srv = await startServer();
  });
  afterAll(async () => {
    for (const s of srv.sockets) s.destroy();
    await new Promise<void>((r) => srv.server.close(() => r()));
  });
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'stnet-dl-'));
    process.env.STNET_HOME = home;
    delete process.env.STNET_WEIGHTS;
    delete process.env.STNET_WEIGHTS_URL;
    delete process.env.STNET_DOWNLOAD_TIMEOUT_MS;
  });
  afterEach(() => {
    process.env = { ...savedEnv };
    rmSync(home, { recursive: true, force: true });
  });

  it('downloads, validates and renames into the cache; the next resolve uses the cache without a request', async () => {
    process.env.STNET_WEIGHTS_URL = `${srv.base}/good/STNET.pdparams`;
    const seen: number[] = [];
    const starts: (number | undefined)[] = [];
    const r = await resolveWeights({ onDownloadProgress: (p) => seen.push(p.receivedBytes), onDownloadStart: (_u, total) => starts.push(total) });
    expect(r.source).toBe('download');
    expect(r.path).toBe(join(home, 'weights', 'STNET.pdparams'));
    expect(cacheListing()).toEqual(['STNET.pdparams']);
    expect(sha256(r.path)).toBe(sha256(weightsFile));
    expect(starts).toEqual([weightsSize]);
    expect(seen.at(-1)).toBe(weightsSize);
    expect(seen.length).toBeGreaterThan(1);
    // The validation's parse is handed back, so StNet.load does not parse the file a second time.
    expect(r.weights?.size).toBe(301);
    expect(r.weights?.get('fc_0.w_0')?.shape).toEqual([1024, 400]);

    const before = srv.hits.length;
    const again = await resolveWeights();
    expect(again).toEqual({ path: r.path, source: 'cache' });
    expect(srv.hits.length).toBe(before);
  });

  it('follows a redirect', async () => {
    const path = await downloadWeights({ urls: [`${srv.base}/redirect/STNET.pdparams`], dir: join(home, 'weights'), validate: async () => undefined });
    expect(readFileSync(path)).toEqual(SMALL);
    expect(cacheListing()).toEqual(['STNET.pdparams']);
  });

  it('falls back to the second URL when the first answers 404 (STNET.pdparams -> STNET_final.pdparams)', async () => {
    const urls = [`${srv.base}/fallback/STNET.pdparams`, `${srv.base}/fallback/STNET_final.pdparams`];
    const path = await downloadWeights({ urls, dir: join(home, 'weights'), validate: async () => undefined });
    expect(path).toBe(join(home, 'weights', 'STNET_final.pdparams'));
    expect(statSync(path).size).toBe(SMALL.length);
    expect(cacheListing()).toEqual(['STNET_final.pdparams']);
    // The cache lookup for the same URL list finds the fallback file.
    expect(findCachedWeights(urls)).toBe(path);
  });

  it('404: one E_WEIGHTS_DOWNLOAD naming the URL and both ways to supply weights; cache empty', async () => {
    const url = `${srv.base}/missing/STNET.pdparams`;
    process.env.STNET_WEIGHTS_URL = url;
    const err = await resolveWeights().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StnetError);
    expect((err as StnetError).code).toBe('E_WEIGHTS_DOWNLOAD');
    expect((err as StnetError).message).toMatch(new RegExp(`cannot download the StNet weights from ${url.replace(/[.?]/g, '\\$&')} \\(HTTP 404`));
    expect((err as StnetError).message).toMatch(/--weights <file>/);
    expect((err as StnetError).message).toMatch(/STNET_WEIGHTS=<file>/);
    expect(cacheListing()).toEqual([]);
  });

  it('connection cut mid-way: error says how many bytes arrived; no partial file left', async () => {
    const err = await downloadWeights({ urls: [`${srv.base}/cut/STNET.pdparams`], dir: join(home, 'weights'), validate: async () => undefined }).catch(
      (e: unknown) => e as StnetError,
    );
    expect((err as StnetError).code).toBe('E_WEIGHTS_DOWNLOAD');
    expect((err as StnetError).message).toMatch(new RegExp(`after \\d+ of ${weightsSize} bytes`));
    expect(cacheListing()).toEqual([]);
  });

  it('a body that is not weights (an HTML page with status 200) fails validation; nothing kept', async () => {
    process.env.STNET_WEIGHTS_URL = `${srv.base}/html/STNET.pdparams`;
    const err = (await resolveWeights().catch((e: unknown) => e)) as StnetError;
    expect(err.code).toBe('E_WEIGHTS_DOWNLOAD');
    expect(err.message).toMatch(/the downloaded file is not StNet weights \(E_WEIGHTS_FORMAT: .*text file/);
    expect(cacheListing()).toEqual([]);
  });

  it('a server that stalls mid-body fails after the stall timeout, not never', async () => {
    process.env.STNET_DOWNLOAD_TIMEOUT_MS = '400';
    const t0 = performance.now();
    const err = (await downloadWeights({ urls: [`${srv.base}/stall/STNET.pdparams`], dir: join(home, 'weights'), validate: async () => undefined }).catch(
      (e: unknown) => e,
    )) as StnetError;
    const ms = performance.now() - t0;
    expect(err.code).toBe('E_WEIGHTS_DOWNLOAD');
    expect(err.message).toMatch(/no data for 400 ms \(timeout; set STNET_DOWNLOAD_TIMEOUT_MS/);
    expect(err.message).toMatch(/after 4096 of \d+ bytes/);
    expect(ms).toBeGreaterThanOrEqual(350);
    expect(ms).toBeLessThan(5000);
    expect(cacheListing()).toEqual([]);
  });

  it('a server that never sends headers times out too', async () => {
    const err = (await downloadWeights({
      urls: [`${srv.base}/stallheaders/STNET.pdparams`],
      dir: join(home, 'weights'),
      timeoutMs: 300,
      validate: async () => undefined,
    }).catch((e: unknown) => e)) as StnetError;
    expect(err.code).toBe('E_WEIGHTS_DOWNLOAD');
    expect(err.message).toMatch(/no data for 300 ms/);
    expect(cacheListing()).toEqual([]);
  });

  it('offline (connection refused): fails at once with the URL and the two ways to supply weights', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/STNET.pdparams`;
    const t0 = performance.now();
    const err = (await resolveWeights({ weightsUrl: url }).catch((e: unknown) => e)) as StnetError;
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(err.code).toBe('E_WEIGHTS_DOWNLOAD');
    expect(err.message).toContain(url);
    expect(err.message).toMatch(/connection refused \(ECONNREFUSED\)/);
    expect(err.message).toMatch(/--weights <file>.*STNET_WEIGHTS=<file>/);
    expect(cacheListing()).toEqual([]);
  });

  it('a network error does not fall through to the next URL (only "not there" answers do)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/STNET.pdparams`;
    const before = srv.hits.length;
    const err = (await downloadWeights({ urls: [url, `${srv.base}/good/STNET.pdparams`], dir: join(home, 'weights'), validate: async () => undefined }).catch(
      (e: unknown) => e,
    )) as StnetError;
    expect(err.code).toBe('E_WEIGHTS_DOWNLOAD');
    expect(srv.hits.length).toBe(before);
  });

  it('cancelling removes the partial file and reports E_CANCELLED', async () => {
    const ac = new AbortController();
    const err = (await downloadWeights({
      urls: [`${srv.base}/stall/STNET.pdparams`],
      dir: join(home, 'weights'),
      timeoutMs: 10_000,
      signal: ac.signal,
      onProgress: () => ac.abort(),
      validate: async () => undefined,
    }).catch((e: unknown) => e)) as StnetError;
    expect(err.code).toBe('E_CANCELLED');
    expect(cacheListing()).toEqual([]);
  });

  it('download: false never downloads and says how to get weights', async () => {
    process.env.STNET_WEIGHTS_URL = `${srv.base}/good/STNET.pdparams`;
    const before = srv.hits.length;
    const err = (await resolveWeights({ download: false }).catch((e: unknown) => e)) as StnetError;
    expect(err.code).toBe('E_WEIGHTS_NOT_FOUND');
    expect(err.message).toMatch(/stnet weights download/);
    expect(srv.hits.length).toBe(before);
  });
});

describe('weights resolution order and cache helpers', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stnet-res-'));
    process.env.STNET_HOME = join(dir, 'home');
    delete process.env.STNET_WEIGHTS;
    delete process.env.STNET_WEIGHTS_URL;
  });
  afterEach(() => {
    process.env = { ...savedEnv };
    rmSync(dir, { recursive: true, force: true });
  });

  it('explicit option beats STNET_WEIGHTS beats the cache', async () => {
    const a = join(dir, 'a.pdparams');
    const b = join(dir, 'b.pdparams');
    writeFileSync(a, 'x');
    writeFileSync(b, 'x');
    process.env.STNET_WEIGHTS = b;
    expect(await resolveWeights({ weights: a })).toEqual({ path: a, source: 'option' });
    expect(await resolveWeights()).toEqual({ path: b, source: 'env' });
  });

  it('a weights path that does not exist is E_WEIGHTS_NOT_FOUND naming where it came from', async () => {
    await expect(resolveWeights({ weights: join(dir, 'nope.pdparams') })).rejects.toMatchObject({
      code: 'E_WEIGHTS_NOT_FOUND',
      message: expect.stringMatching(/weights not found: .*nope\.pdparams \(from the weights option \(--weights\)\)/),
    });
    process.env.STNET_WEIGHTS = join(dir, 'gone.pdparams');
    await expect(resolveWeights()).rejects.toMatchObject({ code: 'E_WEIGHTS_NOT_FOUND', message: expect.stringMatching(/gone\.pdparams \(from STNET_WEIGHTS\)/) });
  });

  it('official URLs: STNET.pdparams first, STNET_final.pdparams second; STNET_WEIGHTS_URL replaces them', () => {
    expect(OFFICIAL_WEIGHTS_URLS).toEqual([
      'https://paddlemodels.bj.bcebos.com/video_classification/STNET.pdparams',
      'https://paddlemodels.bj.bcebos.com/video_classification/STNET_final.pdparams',
    ]);
    expect(weightsUrls()).toEqual(OFFICIAL_WEIGHTS_URLS);
    process.env.STNET_WEIGHTS_URL = 'http://mirror.example/w/STNET.pdparams';
    expect(weightsUrls()).toEqual(['http://mirror.example/w/STNET.pdparams']);
    expect(weightsUrls('http://other/x.pdparams')).toEqual(['http://other/x.pdparams']);
  });

  it.each([
    ['https://h/video_classification/STNET.pdparams', 'STNET.pdparams'],
    ['https://h/a/STNET_final.pdparams?sig=1', 'STNET_final.pdparams'],
    ['https://h/a/my%20weights.tar.gz', 'my_weights.tar.gz'],
    ['https://h/', 'weights.pdparams'],
    ['https://h/..', 'weights.pdparams'],
    ['not a url', 'weights.pdparams'],
  ])('cacheFileName(%s) = %s', (url, name) => {
    expect(cacheFileName(url)).toBe(name);
  });

  it('a partial download is never found as cached weights, and stale partials are removed', () => {
    const wdir = join(dir, 'home', 'weights');
    mkdirSync(wdir, { recursive: true });
    const partial = join(wdir, 'STNET.pdparams.download-123-abc');
    const fresh = join(wdir, 'STNET.pdparams.download-456-def');
    writeFileSync(partial, 'x');
    writeFileSync(fresh, 'x');
    expect(findCachedWeights(OFFICIAL_WEIGHTS_URLS)).toBeUndefined();
    const old = (Date.now() - 48 * 3600 * 1000) / 1000;
    utimesSync(partial, old, old);
    removeStalePartials(wdir);
    expect(readdirSync(wdir)).toEqual(['STNET.pdparams.download-456-def']);
  });

  it.each([
    ['0', /Expected positive integer \(milliseconds\) for STNET_DOWNLOAD_TIMEOUT_MS but received "0"/],
    ['soon', /received "soon"/],
    ['1.5', /received "1.5"/],
  ])('STNET_DOWNLOAD_TIMEOUT_MS=%s is refused', (value, re) => {
    process.env.STNET_DOWNLOAD_TIMEOUT_MS = value;
    expect(() => downloadTimeoutMs()).toThrow(re);
  });

  it('the download timeout defaults to 15 s and honours the env var', () => {
    delete process.env.STNET_DOWNLOAD_TIMEOUT_MS;
    expect(downloadTimeoutMs()).toBe(15_000);
    process.env.STNET_DOWNLOAD_TIMEOUT_MS = '2500';
    expect(downloadTimeoutMs()).toBe(2500);
    expect(downloadTimeoutMs(700)).toBe(700);
  });
});
