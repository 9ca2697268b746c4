// src/env.ts: the one reader of STNET_* variables, and onnxruntime's telemetry switch.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ENV_VARS, disableOrtTelemetry, envDownloadTimeoutMs, envGraphCache, stnetHome } from '../src/env.js';
import { rejection } from './helpers/errors.js';

const saved = { ...process.env };
afterEach(() => {
  for (const k of ['ORT_DISABLE_TELEMETRY', 'STNET_DOWNLOAD_TIMEOUT_MS', 'STNET_GRAPH_CACHE', 'STNET_HOME']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('environment variables', () => {
  it('the README table lists exactly the variables env.ts reads', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const inReadme = [...readme.matchAll(/^\| `(STNET_[A-Z_]+)`(?:, `(STNET_[A-Z_]+)`)? \|/gm)].flatMap((m) => m.slice(1).filter((x) => x !== undefined));
    const inCode = ENV_VARS.flatMap((e) => e.name.split(', '));
    expect(new Set(inReadme)).toEqual(new Set(inCode));
    // And no other file of src/ reads a STNET_ variable itself.
    const src = new URL('../src/', import.meta.url);
    const offenders = (readdirSync(src, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && f !== 'env.ts')
      .filter((f) => /process\.env(\.STNET_|\[['"]STNET_|\[envName\])/.test(readFileSync(new URL(f, src), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('STNET_DOWNLOAD_TIMEOUT_MS: a positive integer, else E_INVALID_OPTION naming the variable', async () => {
    process.env.STNET_DOWNLOAD_TIMEOUT_MS = '2500';
    expect(envDownloadTimeoutMs()).toBe(2500);
    for (const bad of ['0', '-1', '1.5', 'soon']) {
      process.env.STNET_DOWNLOAD_TIMEOUT_MS = bad;
      const err = await rejection((async () => envDownloadTimeoutMs())());
      expect(err.code).toBe('E_INVALID_OPTION');
      expect(err.message).toBe(`Expected positive integer (milliseconds) for STNET_DOWNLOAD_TIMEOUT_MS but received ${JSON.stringify(bad)}`);
    }
    process.env.STNET_DOWNLOAD_TIMEOUT_MS = '';
    expect(envDownloadTimeoutMs()).toBeUndefined();
  });

  it.each([
    ['0', false],
    ['false', false],
    ['1', true],
    ['true', true],
    ['yes', undefined],
    ['', undefined],
  ])('STNET_GRAPH_CACHE=%j -> %s', (v, expected) => {
    process.env.STNET_GRAPH_CACHE = v;
    expect(envGraphCache()).toBe(expected);
  });

  it('STNET_HOME: the option, else the variable, else ~/.cache/stnet', () => {
    process.env.STNET_HOME = '/tmp/h1';
    expect(stnetHome('/tmp/opt')).toBe('/tmp/opt');
    expect(stnetHome()).toBe('/tmp/h1');
    process.env.STNET_HOME = '';
    expect(stnetHome()).toMatch(/\/\.cache\/stnet$/);
  });
});

describe('onnxruntime telemetry', () => {
  it('disableOrtTelemetry sets ORT_DISABLE_TELEMETRY=1, but never overwrites a value the user set', () => {
    delete process.env.ORT_DISABLE_TELEMETRY;
    disableOrtTelemetry();
    expect(process.env.ORT_DISABLE_TELEMETRY).toBe('1');
    process.env.ORT_DISABLE_TELEMETRY = '0';
    disableOrtTelemetry();
    expect(process.env.ORT_DISABLE_TELEMETRY).toBe('0');
  });

  it('a session started from the built package, with the variable unset: set before onnxruntime loads, nothing written to HOME or TMPDIR', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stnet-telemetry-'));
    const home = join(dir, 'home');
    const tmp = join(dir, 'tmp');
    for (const d of [home, tmp]) rmSync(d, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(home);
    mkdirSync(tmp);
    const dist = new URL('../dist/', import.meta.url).href;
    const script = `
      const { ModelSession } = await import(${JSON.stringify(`${dist}graph/session.js`)});
      const { GraphBuilder } = await import(${JSON.stringify(`${dist}graph/onnx.js`)});
      const g = new GraphBuilder();
      const x = g.fresh('x');
      const y = g.op('Relu', [x], {}, 'y');
      const model = g.encode({ graphName: 't', inputs: [{ name: x, dims: [2] }], outputs: [{ name: y, dims: [2] }], producerVersion: '0' });
      const s = await ModelSession.create(model, { threads: 1, useGpu: false });
      const out = await s.run(new Float32Array([-1, 2]), [2]);
      await s.close();
      console.log(JSON.stringify({ out: Array.from(out), env: process.env.ORT_DISABLE_TELEMETRY ?? null }));`;
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: tmp, XDG_CACHE_HOME: join(home, '.cache') };
    try {
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['--input-type=module', '-e', script], { env, timeout: 60_000 }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out))),
      );
      expect(JSON.parse(stdout)).toEqual({ out: [0, 2], env: '1' });
      expect(readdirSync(home, { recursive: true })).toEqual([]);
      expect(readdirSync(tmp, { recursive: true })).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
