// Runs the real built binary (dist/cli/main.js) and collects exit code, stdout and stderr.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'dist', 'cli', 'main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** When each stdout chunk arrived (ms after the start), to see streaming. Not enumerable: keeps toEqual on runs simple. */
  readonly chunks?: readonly { ms: number; text: string }[];
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    newest = Math.max(newest, name.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * `npm test` builds before vitest runs; a bare `npx vitest run test/cli` after editing src/ would run a
 * stale binary, so rebuild then (tsc emits even when files outside the CLI have type errors).
 */
export function ensureBuilt(): void {
  if (existsSync(BIN) && statSync(BIN).mtimeMs >= newestMtime(join(ROOT, 'src'))) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', ROOT], { encoding: 'utf8' });
  if (!existsSync(BIN)) throw new Error(`build failed, ${BIN} missing:\n${r.stdout}${r.stderr}`);
}

/** Environment without the user's STNET_* settings (tests must never touch ~/.cache/stnet or the network). */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STNET_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, ...extra };
}

export function runCli(args: readonly string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { env: opts.env, cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const chunks: { ms: number; text: string }[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      chunks.push({ ms: performance.now() - t0, text: d });
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const run: CliRun = { code, stdout, stderr, ms: performance.now() - t0 };
      Object.defineProperty(run, 'chunks', { value: chunks, enumerable: false });
      resolve(run);
    });
  });
}
