// Where a worker thread's module is. tsc compiles each worker entry beside its caller in dist/. Under the test
// runner the caller runs from its .ts source, but a worker thread is plain Node (20 cannot run TypeScript), so it
// takes the compiled worker from dist/ (`npm test` builds first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StnetError } from './errors.js';

/** The URL of worker module `file` (e.g. './ort-worker.js') next to the module at `callerUrl` (its import.meta.url). */
export function workerModuleUrl(file: string, callerUrl: string): URL {
  const here = new URL(file, callerUrl);
  if (existsSync(here)) return here;
  if (callerUrl.endsWith('.ts')) {
    const built = new URL(here.href.replace(/\/src\/(?!.*\/src\/)/, '/dist/'));
    if (existsSync(built)) return built;
  }
  throw new StnetError('E_RUNTIME', `the worker module ${fileURLToPath(here)} is missing: reinstall stnet-kinetics400 (in a checkout: npm run build)`);
}
