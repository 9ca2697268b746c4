// What `stnet run` pays before it does anything: the CLI program must not load the HTTP server (fastify and its
// plugins) or the ONNX protobuf schema (onnx-proto on protobufjs) at start; each loads where it is used (serve;
// building, decoding or quantizing a graph). Together they were 19 MB of RSS and 0.2 s of every start (`stnet --version`: 76 -> 57 MB, 0.53 -> 0.33 s)
// (issue 10). Checked in a real node process on the built package, through CommonJS's module cache, where both
// land (fastify is imported from ES modules, onnx-proto required by src/graph/proto.ts); a package is named by its last node_modules/ folder.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from './run-cli.js';

const HEAVY = ['fastify', 'onnx-proto', 'protobufjs'];

/** The packages in CommonJS's cache after importing `imports` (and running `then`, a statement list), in a fresh node. */
function packagesAfter(imports: readonly string[], then = ''): string[] {
  const urls = imports.map((p) => pathToFileURL(join(ROOT, 'dist', p)).href);
  const script = `
    const mods = [];
    for (const u of ${JSON.stringify(urls)}) mods.push(await import(u));
    ${then}
    const { createRequire } = await import('node:module');
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const names = cache.map((p) => /.*node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(p)?.[1]).filter(Boolean);
    console.log(JSON.stringify([...new Set(names)].sort()));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
}

describe('start-up of the CLI', () => {
  it('the CLI program loads neither the server nor the ONNX schema', () => {
    ensureBuilt();
    const loaded = packagesAfter(['cli/program.js']);
    expect(loaded).toContain('commander'); // the probe sees packages at all
    expect(loaded.filter((p) => HEAVY.includes(p))).toEqual([]);
  });

  it('the package entry (a library user who classifies) loads neither; buildServer loads the server when called', () => {
    ensureBuilt();
    expect(packagesAfter(['index.js']).filter((p) => HEAVY.includes(p))).toEqual([]);
    // The lazy export is the real one: a call loads the server (options without workers are refused by it).
    const loaded = packagesAfter(['index.js'], 'const err = await mods[0].buildServer({}).then((app) => app.close(), (e) => e); if (err?.code !== "E_INVALID_OPTION") throw new Error(String(err));');
    expect(loaded).toContain('fastify');
  });

  it('the schema loads on first use, and the server entry loads fastify (the check above can fail)', () => {
    ensureBuilt();
    const loaded = packagesAfter(['graph/proto.js', 'server/serve.js'], 'mods[0].onnxSchema();');
    expect(loaded).toEqual(expect.arrayContaining(HEAVY));
  });
});
