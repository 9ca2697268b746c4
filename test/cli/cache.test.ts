// `stnet cache` and `stnet cache clean` on the real binary, each run with its own STNET_HOME.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from '../helpers/golden.js';
import { cleanEnv, ensureBuilt, runCli } from './run-cli.js';

let tmp = '';
beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'stnet-cache-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A cache with one weights file, one unfinished download, one graph with its info file and the ffmpeg record. */
function fakeCache(home: string): void {
  mkdirSync(join(home, 'weights'), { recursive: true });
  mkdirSync(join(home, 'graphs'), { recursive: true });
  mkdirSync(join(home, 'tools'), { recursive: true });
  writeFileSync(join(home, 'tools', 'ffmpeg.json'), JSON.stringify({ format: 1, tools: [] }));
  writeFileSync(join(home, 'weights', 'STNET.pdparams'), Buffer.alloc(3 * 1048576));
  writeFileSync(join(home, 'weights', 'STNET.pdparams.download-123-abc'), Buffer.alloc(1048576));
  writeFileSync(join(home, 'graphs', 'aaaa.onnx'), Buffer.alloc(2 * 1048576));
  writeFileSync(join(home, 'graphs', 'aaaa.json'), JSON.stringify({ weights: '/w/STNET.pdparams', variant: 'fp32', builderVersion: 1 }));
}

describe('stnet cache', () => {
  it('lists the weights and graphs with sizes, where the cache is, and the total', async () => {
    const home = join(tmp, 'list');
    fakeCache(home);
    const r = await runCli(['cache'], { env: cleanEnv({ STNET_HOME: home }) });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.split('\n')).toEqual([
      `cache    ${home}`,
      `weights      3.0 MB  ${join(home, 'weights', 'STNET.pdparams')}`,
      `weights      1.0 MB  ${join(home, 'weights', 'STNET.pdparams.download-123-abc')}  (unfinished download)`,
      `graph        2.0 MB  ${join(home, 'graphs', 'aaaa.onnx')}  (fp32, from /w/STNET.pdparams)`,
      `tools        0.0 MB  ${join(home, 'tools', 'ffmpeg.json')}  (ffmpeg versions)`,
      'total        6.0 MB  2 weights files, 1 graph',
      '',
    ]);
  });

  it('an empty or missing cache: lists nothing, exit 0', async () => {
    const home = join(tmp, 'none');
    const r = await runCli(['cache'], { env: cleanEnv({ STNET_HOME: home }) });
    expect(r).toMatchObject({ code: 0, stderr: '', stdout: `cache    ${home}\ntotal        0.0 MB  0 weights files, 0 graphs\n` });
    expect(existsSync(home)).toBe(false);
  });

  it('clean --graphs_only keeps the weights; clean removes everything', async () => {
    const home = join(tmp, 'clean');
    fakeCache(home);
    const env = cleanEnv({ STNET_HOME: home });
    const g = await runCli(['cache', 'clean', '--graphs_only'], { env });
    expect(g).toMatchObject({ code: 0, stdout: '', stderr: `stnet: removed 1 file (2.0 MB) from ${home}\n` });
    expect(readdirSync(join(home, 'graphs'))).toEqual([]);
    expect(readdirSync(join(home, 'weights')).sort()).toEqual(['STNET.pdparams', 'STNET.pdparams.download-123-abc']);
    expect(readdirSync(join(home, 'tools'))).toEqual(['ffmpeg.json']);
    // A record write killed before its rename (no process has pid 999999999: Linux's pid_max is at most 2^22),
    // and one whose writer (this process) still runs, about to rename it.
    writeFileSync(join(home, 'tools', 'ffmpeg.json.999999999.tmp'), '{"format": 1, "too');
    writeFileSync(join(home, 'tools', `ffmpeg.json.${process.pid}.tmp`), '{}');
    const all = await runCli(['cache', 'clean'], { env });
    expect(all).toMatchObject({ code: 0, stdout: '', stderr: `stnet: removed 4 files (4.0 MB) from ${home}\n` });
    expect(readdirSync(join(home, 'weights'))).toEqual([]);
    expect(readdirSync(join(home, 'tools'))).toEqual([`ffmpeg.json.${process.pid}.tmp`]);
  });

  it('--help says where the cache is; a bad flag or argument is exit 2', async () => {
    const env = cleanEnv({ STNET_HOME: join(tmp, 'help') });
    const h = await runCli(['cache', '--help'], { env });
    expect(h).toMatchObject({ code: 0, stderr: '' });
    expect(h.stdout).toContain('$STNET_HOME (default ~/.cache/stnet)');
    const top = await runCli(['--help'], { env });
    expect(top.stdout).toMatch(/Cache: \$STNET_HOME \(default ~\/\.cache\/stnet\)/);
    const bad = await runCli(['cache', 'clean', '--all'], { env });
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/unknown option '--all'/);
    const extra = await runCli(['cache', 'list'], { env });
    expect(extra).toMatchObject({ code: 2, stdout: '' });
  });
});

describe.skipIf(!HAS_GOLDEN)(`the graph an export keeps, as stnet cache shows it${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  it('export-onnx with explicit --weights keeps the graph; stnet cache names the weights it came from', async () => {
    const weights = await goldenXz('stnet_seed7_q.lodtensor');
    const home = join(tmp, 'export');
    const env = cleanEnv({ STNET_HOME: home });
    const r = await runCli(['export-onnx', '--out', join(tmp, 'm.onnx'), '--weights', weights, '--quiet'], { env });
    expect(r).toMatchObject({ code: 0, stdout: `${join(tmp, 'm.onnx')}\n` });
    const list = await runCli(['cache'], { env });
    expect(list.stdout).toMatch(new RegExp(`^graph +12\\d\\.\\d MB  ${home}/graphs/[0-9a-f]{32}\\.onnx  \\(fp32, from ${weights.replace(/[.]/g, '\\.')}\\)$`, 'm'));
    // STNET_GRAPH_CACHE=0: nothing kept.
    const off = join(tmp, 'export-off');
    const r0 = await runCli(['export-onnx', '--out', join(tmp, 'm0.onnx'), '--weights', weights], { env: cleanEnv({ STNET_HOME: off, STNET_GRAPH_CACHE: '0' }) });
    expect(r0.code).toBe(0);
    expect(existsSync(join(off, 'graphs'))).toBe(false);
  });
});
