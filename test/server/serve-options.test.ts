// `stnet serve` option defaults and validation (before any model is loaded).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { resolveServeOptions, startServer } from '../../src/server/serve.js';
import { FakeWorker } from './helpers.js';

afterEach(() => vi.unstubAllEnvs());

describe('resolveServeOptions', () => {
  it.each([
    [1, 1, 1],
    [2, 1, 2],
    [3, 1, 3],
    [8, 4, 2],
    [16, 8, 2],
  ])('on %i cores: %i workers x %i threads by default', (cores, workers, threads) => {
    const r = resolveServeOptions({}, cores);
    expect(r).toMatchObject({ host: '127.0.0.1', port: 8866, workers, threads, maxQueue: 2 * workers, maxUploadBytes: 512 * 1024 * 1024, shutdownGraceMs: 10_000 });
  });

  it('threads default to cores / workers when workers is given', () => {
    expect(resolveServeOptions({ workers: 3 }, 12)).toMatchObject({ workers: 3, threads: 4 });
    expect(resolveServeOptions({ workers: 4 }, 2)).toMatchObject({ workers: 4, threads: 1 });
  });

  it('takes the token from STNET_TOKEN when no option is given (keeps it out of `ps`)', () => {
    vi.stubEnv('STNET_TOKEN', 'from-env');
    expect(resolveServeOptions({}, 2).token).toBe('from-env');
    expect(resolveServeOptions({ token: 'flag' }, 2).token).toBe('flag');
  });

  it.each([
    [{ port: 70000 }, 'Expected integer between 0 and 65535 for port but received 70000'],
    [{ workers: 0 }, 'Expected integer between 1 and 256 for workers but received 0'],
    [{ threads: 1.5 }, 'Expected integer between 1 and 1024 for threads but received 1.5'],
    [{ maxUploadMb: -1 }, 'Expected positive number of MiB for maxUploadMb but received -1'],
    [{ host: '' }, 'Expected host name or IP address for host but received ""'],
    [{ token: '' }, 'Expected non-empty string for token but received ""'],
    [{ prot: 1 }, /^Unknown serve option "prot" \(did you mean port\?\); expected one of host, port,/],
  ])('%j -> E_INVALID_OPTION', (opts, message) => {
    expect(() => resolveServeOptions(opts as never, 2)).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION', message: typeof message === 'string' ? message : expect.stringMatching(message) }));
  });

  it('startServer refuses bad options before loading any model', async () => {
    let loads = 0;
    await expect(startServer({ port: -1 }, async () => (loads++, []))).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
    expect(loads).toBe(0);
  });

  it('a port in use is E_INVALID_OPTION naming the port, and the loaded workers are closed again', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    const worker = new FakeWorker();
    try {
      await expect(startServer({ port, onMessage: () => undefined }, async () => [worker])).rejects.toMatchObject({
        code: 'E_INVALID_OPTION',
        message: `Cannot listen on 127.0.0.1:${port} (EADDRINUSE): choose another --port or --host`,
      });
      expect(worker.closed).toBe(true);
      // The upload dir the app made for this process is gone too (the app was closed, not just the workers).
      expect(readdirSync(tmpdir()).filter((n) => n.startsWith(`stnet-serve-${process.pid}-`))).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it('startServer on port 0 serves, and close() is graceful and idempotent', async () => {
    const worker = new FakeWorker();
    const server = await startServer({ port: 0, onMessage: () => undefined }, async () => [worker]);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(((await (await fetch(`${server.url}/healthz`)).json()) as { status: string }).status).toBe('ok');
    await Promise.all([server.close(), server.close()]);
    expect(worker.closed).toBe(true);
  });
});
