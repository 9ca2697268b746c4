// Shared pieces of the server tests: fake workers whose timing the test controls, a server on
// 127.0.0.1:0, and raw node:http requests (fetch cannot send a chunked body of a chosen size or
// drop the connection mid-request).
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach } from 'vitest';
import { descendants } from '../video/helpers.js';
import { buildServer, serverInfo, shutdownServer, type BuildServerOptions } from '../../src/server/app.js';
import type { ServerClassifier, ServerClassifyOptions, ServerVideoResult } from '../../src/server/classifier.js';

export interface FakeCall {
  path: string;
  opts: ServerClassifyOptions;
  /** The uploaded bytes as the worker saw them on disk. */
  bytes: Buffer;
}

/** A worker that answers from `respond`; records every call and whether it was closed. */
export class FakeWorker implements ServerClassifier {
  readonly calls: FakeCall[] = [];
  closed = false;
  constructor(private readonly respond: (call: FakeCall) => Promise<ServerVideoResult> = async (c) => okResult(c.path, c.opts.topK)) {}
  async classify(path: string, opts: ServerClassifyOptions): Promise<ServerVideoResult> {
    const call = { path, opts, bytes: await readFile(path) };
    this.calls.push(call);
    return this.respond(call);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

export function okResult(path: string, topK = 5): ServerVideoResult {
  const labels = ['arm_wrestling', 'archery', 'abseiling', 'zumba', 'yoga', 'juggling_balls', 'bowling'];
  return {
    path,
    ok: true,
    predictions: labels.slice(0, topK).map((label, i) => ({ label, index: i, prob: 0.5 / (i + 1) })),
    timing: { decodeMs: 12.5, inferMs: 30.25 },
  };
}

/** A promise the test resolves by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Worker that blocks each job until the test releases it, or until the job's signal aborts. */
export class GateWorker extends FakeWorker {
  readonly started: Array<{ signal: AbortSignal; release: () => void }> = [];
  readonly aborted: string[] = [];
  #onStart: Array<() => void> = [];
  constructor() {
    super(async (call) => {
      const gate = deferred();
      this.started.push({ signal: call.opts.signal, release: () => gate.resolve() });
      for (const f of this.#onStart.splice(0)) f();
      const stop = new Promise<never>((_, reject) => {
        const onAbort = (): void => {
          this.aborted.push(call.path);
          reject(call.opts.signal.reason);
        };
        if (call.opts.signal.aborted) onAbort();
        else call.opts.signal.addEventListener('abort', onAbort, { once: true });
      });
      await Promise.race([gate.promise, stop]);
      return okResult(call.path, call.opts.topK);
    });
  }
  /** Resolves once `n` jobs have started in total. */
  async waitStarted(n: number, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (this.started.length < n) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`only ${this.started.length} of ${n} jobs started within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#onStart.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

export interface Running {
  app: FastifyInstance;
  port: number;
  base: string;
  tempDir: string;
}

export async function listen(opts: BuildServerOptions): Promise<Running> {
  const app = await buildServer(opts);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return { app, port, base: `http://127.0.0.1:${port}`, tempDir: serverInfo(app)!.tempDir };
}

/** `listen`, with every server it started shut down after each test (registers the afterEach hook). */
export function useServers(): (opts: BuildServerOptions) => Promise<Running> {
  const running: Running[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) await shutdownServer(r.app, 0).catch(() => undefined);
  });
  return async (opts) => {
    const r = await listen(opts);
    running.push(r);
    return r;
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => Record<string, unknown>;
}

export interface RawRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent in chunks of `chunkSize` (chunked encoding when no content-length header is given). */
  body?: Buffer;
  chunkSize?: number;
}

/** One HTTP request over a fresh connection; resolves with the response (also when the upload was cut short by it). */
export function request(port: number, path: string, opts: RawRequestOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'POST', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as Record<string, unknown> });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    const body = opts.body;
    if (body === undefined) return void req.end();
    const size = opts.chunkSize ?? 64 * 1024;
    let off = 0;
    const pump = (): void => {
      while (off < body.length) {
        const chunk = body.subarray(off, off + size);
        off += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    // The server may answer (413) and stop reading before the body is sent: that is fine.
    req.on('response', () => (off = body.length));
    pump();
  });
}

/** Starts a request and returns a handle to drop its connection (a client that goes away). */
export function startRequest(port: number, path: string, headers: Record<string, string>, body: Buffer): { abort: () => void; done: Promise<unknown> } {
  const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false });
  const done = new Promise((resolve) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', (err) => resolve(err));
  });
  req.end(body);
  return { abort: () => req.destroy(), done };
}

export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return ['<missing>'];
  }
}

/** PIDs and commands of the descendants of process `ppid` (default: this one) whose command line contains `name`. */
export function childProcesses(name: string, ppid = process.pid): string[] {
  return descendants(ppid).filter((p) => p.args.includes(name)).map((p) => `${p.pid} ${p.args}`);
}

/** Polls `check` every 20 ms until it is true or `ms` passed. */
export async function waitFor(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}
