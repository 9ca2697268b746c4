// Access to ../shared/fixtures (golden case and sample videos), produced outside this project.
// Large fixtures are referenced, not copied; tests that need them skip with a clear message when absent.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const GOLDEN_DIR = join(SHARED_DIR, 'fixtures', 'golden');
export const VIDEOS_DIR = join(SHARED_DIR, 'fixtures', 'videos');
export const HAS_GOLDEN = existsSync(join(GOLDEN_DIR, 'expected.json'));
export const HAS_VIDEOS = existsSync(join(VIDEOS_DIR, 'mmaction2_demo.mp4'));
export const GOLDEN_SKIP_REASON = `golden fixtures not found at ${GOLDEN_DIR} (needs the shared/ folder beside the checkout)`;

/** Project-local cache for decompressed fixtures (gitignored). */
export const TEST_CACHE_DIR = fileURLToPath(new URL('../../.cache/test/', import.meta.url));

export function golden(name: string): string {
  return join(GOLDEN_DIR, name);
}

/**
 * Decompresses `<GOLDEN_DIR>/<name>.xz` once into the test cache and returns the path.
 * Safe when several test workers ask at once: each writes its own temp file and renames it into place.
 */
export async function goldenXz(name: string): Promise<string> {
  mkdirSync(TEST_CACHE_DIR, { recursive: true });
  const out = join(TEST_CACHE_DIR, name);
  const src = golden(`${name}.xz`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('xz', ['-dc', '--', src], { stdio: ['ignore', 'pipe', 'pipe'] });
    const sink = createWriteStream(tmp);
    let stderr = '';
    let pending = 2; // the child's exit and the file's flush
    const done = (): void => {
      if (--pending === 0) resolve();
    };
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.pipe(sink);
    child.on('error', (err) => reject(new Error(`cannot run xz (apt-get install xz-utils): ${err.message}`)));
    child.on('close', (code) => (code === 0 ? done() : reject(new Error(`xz -dc ${src} failed (${code}): ${stderr}`))));
    sink.on('finish', done);
    sink.on('error', reject);
  });
  renameSync(tmp, out);
  return out;
}
