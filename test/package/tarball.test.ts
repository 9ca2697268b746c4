// The package as a user gets it: `npm pack` of a clean copy of the project (the real prepack/prepare scripts, not
// the working tree's dist/, which may hold stale files), installed from the tarball into a fresh CommonJS app
// (`npm init -y`), whose node_modules a fresh ES-module app inside it also resolves. Then, on this machine's Node
// and on every extra Node binary listed in STNET_TEST_NODES (colon-separated; .ci/run passes Node 22 and 24):
// require() and import of the package, a TypeScript file compiled with `tsc --module nodenext` in each app and
// run, and the CLI's main job through npx.
//
// Installs use the local npm cache first (--prefer-offline); the npm registry is only asked for what the cache lacks.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../cli/run-cli.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from '../helpers/golden.js';

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; license: string; files: string[] };
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const SMALL = ['--seg_num', '7', '--short_size', '112', '--target_size', '112'];

interface NodeBin {
  label: string;
  bin: string;
}
const NODES: NodeBin[] = [
  { label: `this machine's Node ${process.version}`, bin: process.execPath },
  ...(process.env.STNET_TEST_NODES ?? '')
    .split(':')
    .filter((p) => p !== '')
    .map((bin) => ({ label: bin, bin })),
];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for npm, node and the apps: without the npm_* variables of the `npm test` that runs us. */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && !k.startsWith('STNET_')) env[k] = v;
  // onnxruntime-node's install script (when npm runs it) would fetch CUDA binaries; the CPU build is in the package.
  return { ...env, ONNXRUNTIME_NODE_INSTALL: 'skip', ...extra };
}

function run(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustRun(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${opts.cwd}) exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Runs with `node` on PATH being `bin`, as a user with that Node installed would. */
function withNode(bin: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = baseEnv(extra);
  return { ...env, PATH: `${dirname(bin)}${delimiter}${env.PATH ?? ''}` };
}

const LIB_CHECK = `JSON.stringify({
  node: process.version,
  load: typeof m.StNet.load,
  labels: m.KINETICS400_LABELS.length,
  error: new m.StnetError('E_INVALID_OPTION', 'x') instanceof Error,
})`;

const TS_SOURCE = `import { StNet, KINETICS400_LABELS, isStnetError, type VideoResult } from 'stnet-kinetics400';
// Type-level use of the public API: compile errors here mean the published types are broken.
export async function classifyOne(weights: string, video: string): Promise<VideoResult> {
  const model = await StNet.load({ weights, threads: 1 });
  try {
    const [result] = await model.classify([video], { topK: 1 });
    return result!;
  } finally {
    await model.close();
  }
}
const n: number = KINETICS400_LABELS.length;
console.log(JSON.stringify({ labels: n, load: typeof StNet.load, guard: typeof isStnetError }));
`;

const TSCONFIG = JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, outDir: 'out', rootDir: '.' }, include: ['index.ts'] });

let tmp = '';
let tarball = '';
let packed: { path: string; size: number }[] = [];
let packInfo: { size: number; unpackedSize: number; entryCount: number } = { size: 0, unpackedSize: 0, entryCount: 0 };
let cjsApp = '';
let esmApp = '';
let setupError: Error | undefined;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'stnet-tarball-'));
  try {
    // A clean copy of what package.json ships (plus the build config), so `npm pack` builds dist/ from scratch.
    const copy = join(tmp, 'project');
    mkdirSync(copy);
    for (const f of ['package.json', 'tsconfig.json', '.npmrc', 'README.md', 'LICENSE', ...PKG.files]) {
      if (f !== 'dist' && existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(copy, f), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
    const pack = await mustRun('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: copy, timeoutMs: 400_000 });
    // npm prints the lifecycle scripts' output before the JSON.
    const info = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[\n'))) as { filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string; size: number }[] }[])[0]!;
    tarball = join(tmp, info.filename);
    packed = info.files;
    packInfo = { size: info.size, unpackedSize: info.unpackedSize, entryCount: info.entryCount };

    // One install (it unpacks ~480 MB, onnxruntime-node most of it): the CommonJS app gets it; the ES-module app
    // is a package in a subfolder that resolves the same node_modules, as in a monorepo.
    cjsApp = join(tmp, 'app-cjs');
    esmApp = join(cjsApp, 'app-esm');
    mkdirSync(cjsApp);
    await mustRun('npm', ['init', '-y'], { cwd: cjsApp });
    await mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: cjsApp, timeoutMs: 400_000 });
    mkdirSync(esmApp);
    await mustRun('npm', ['init', '-y'], { cwd: esmApp });
    await mustRun('npm', ['pkg', 'set', 'type=module'], { cwd: esmApp });
    for (const app of [cjsApp, esmApp]) {
      writeFileSync(join(app, 'index.ts'), TS_SOURCE);
      writeFileSync(join(app, 'tsconfig.json'), TSCONFIG);
    }
    writeFileSync(join(cjsApp, 'require.js'), `const m = require('stnet-kinetics400');\nconsole.log(${LIB_CHECK});\n`);
    writeFileSync(join(esmApp, 'import.js'), `import * as m from 'stnet-kinetics400';\nconsole.log(${LIB_CHECK});\n`);
  } catch (err) {
    setupError = err as Error;
  }
}, 900_000);

afterAll(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
});

function ready(): void {
  if (setupError !== undefined) throw setupError;
}

describe('npm pack: what the tarball holds', () => {
  it('LICENSE (Apache-2.0), README, the docs the CLI and server point to, dist and the sources its maps name', () => {
    ready();
    const paths = new Set(packed.map((f) => f.path));
    for (const p of ['package.json', 'README.md', 'LICENSE', 'docs/server.md', 'docs/cli.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'examples/archery.avi']) {
      expect(paths.has(p), p).toBe(true);
    }
    expect(PKG.license).toBe('Apache-2.0');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    // No tests, benchmarks, caches or dependencies.
    expect([...paths].filter((p) => /^(test|bench|scripts|node_modules|\.cache|\.ci)\//.test(p))).toEqual([]);
    // Every source map's sources are shipped (src/ is), so stack traces and debuggers can show the TypeScript.
    const maps = [...paths].filter((p) => p.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(tmp, 'project', m), 'utf8')) as { sources: string[] };
      for (const s of map.sources) {
        const target = join(dirname(m), s).replace(/\\/g, '/');
        if (!paths.has(target)) missing.push(`${m} -> ${target}`);
      }
    }
    expect(missing).toEqual([]);
    // Reported in the test log: the size of what users download.
    console.log(`tarball: ${packInfo.entryCount} files, ${packInfo.size} bytes packed, ${packInfo.unpackedSize} bytes unpacked`);
  });
});

describe('TypeScript: tsc --module nodenext compiles a user file against the published types', () => {
  it.each([
    ['CommonJS app', () => cjsApp],
    ['ES-module app', () => esmApp],
  ])('%s', async (_name, app) => {
    ready();
    // No skipLibCheck: the package's .d.ts files (and what they import) must type-check as shipped.
    const r = await run(process.execPath, [TSC, '-p', app()], { cwd: app() });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = readFileSync(join(app(), 'out', 'index.js'), 'utf8');
    expect(out).toMatch(app() === cjsApp ? /require\("stnet-kinetics400"\)/ : /from 'stnet-kinetics400'/);
  }, 180_000);
});

for (const node of NODES) {
  describe(`installed package on ${node.label}`, () => {
    it('require() from a CommonJS app, import from an ES-module app, and the tsc output of each, run', async () => {
      ready();
      const env = withNode(node.bin);
      const expected = { load: 'function', labels: 400, error: true };
      const req = await run(node.bin, ['require.js'], { cwd: cjsApp, env });
      expect(req.stderr).toBe('');
      expect(JSON.parse(req.stdout)).toMatchObject(expected);
      const imp = await run(node.bin, ['import.js'], { cwd: esmApp, env });
      expect(imp.stderr).toBe('');
      expect(JSON.parse(imp.stdout)).toMatchObject(expected);
      const version = JSON.parse(req.stdout).node as string;
      if (node.bin !== process.execPath) expect(version).not.toBe(process.version);
      for (const app of [cjsApp, esmApp]) {
        const r = await run(node.bin, [join('out', 'index.js')], { cwd: app, env });
        expect(r.stderr, app).toBe('');
        expect(JSON.parse(r.stdout)).toEqual({ labels: 400, load: 'function', guard: 'function' });
      }
    }, 120_000);

    it.skipIf(!HAS_GOLDEN)(`npx stnet run: the CLI's main job${HAS_GOLDEN ? '' : ` (skipped: ${GOLDEN_SKIP_REASON})`}`, async () => {
      ready();
      const weights = await goldenXz('stnet_seed7_q.pdparams');
      const env = withNode(node.bin, { STNET_HOME: join(tmp, 'stnet-home'), STNET_WEIGHTS_URL: 'http://127.0.0.1:9/no-download-in-tarball-tests' });
      const video = join('node_modules', PKG.name, 'examples', 'archery.avi');
      const r = await run('npx', ['--no-install', 'stnet', 'run', '--input_path', video, '--weights', weights, '--top_k', '2', '--format', 'json', '--quiet', ...SMALL], {
        cwd: cjsApp,
        env,
        timeoutMs: 150_000,
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const results = JSON.parse(r.stdout) as { path: string; ok: boolean; predictions: { label: string; prob: number }[] }[];
      expect(results).toHaveLength(1);
      expect(results[0]).toMatchObject({ path: video, ok: true });
      expect(results[0]!.predictions).toHaveLength(2);
      const v = await run('npx', ['--no-install', 'stnet', '--version'], { cwd: cjsApp, env });
      expect(v).toMatchObject({ code: 0, stdout: `${PKG.version}\n` });
    }, 180_000);
  });
}

// The installed app is real: its node_modules holds the package from the tarball, not a link to this checkout.
describe('the apps', () => {
  it('the CommonJS app holds the package from the tarball; the ES-module app is type: module', () => {
    ready();
    const dir = join(cjsApp, 'node_modules', PKG.name);
    expect(readdirSync(dir).sort()).toEqual(['LICENSE', 'README.md', 'package.json', ...PKG.files].sort());
    expect(JSON.parse(readFileSync(join(cjsApp, 'package.json'), 'utf8')).dependencies[PKG.name]).toMatch(/^file:.*\.tgz$/);
    expect(JSON.parse(readFileSync(join(esmApp, 'package.json'), 'utf8')).type).toBe('module');
    expect(JSON.parse(readFileSync(join(cjsApp, 'package.json'), 'utf8')).type ?? 'commonjs').toBe('commonjs');
  });
});
