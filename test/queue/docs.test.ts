// docs/scale.md states the flags, defaults and ranges the code uses; and bullmq/ioredis load only through
// the stnet-kinetics400/queue entry point (checked with a module resolve hook in a real node process).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QUEUE_INT_OPTIONS } from '../../src/cli/options.js';
import { DEFAULT_ATTEMPTS, DEFAULT_KEEP_SECONDS, WORKER_DEFAULTS } from '../../src/queue/jobs.js';
import { ROOT, ensureBuilt } from '../cli/run-cli.js';

const DOC = readFileSync(new URL('../../docs/scale.md', import.meta.url), 'utf8');

describe('docs/scale.md', () => {
  it('has a row per queue flag with the default and range of the code', () => {
    const defaults: Record<string, string> = {
      ...Object.fromEntries(Object.entries(WORKER_DEFAULTS).map(([k, v]) => [k, String(v)])),
      priority: 'none',
      attempts: String(DEFAULT_ATTEMPTS),
    };
    for (const o of QUEUE_INT_OPTIONS) {
      expect(DOC, o.flag).toContain(`| \`${o.flag} ${o.arg}\` | ${defaults[o.key]} | ${o.limits[0]}..${o.limits[1]} |`);
    }
    expect(DEFAULT_KEEP_SECONDS).toBe(7 * 86400);
    expect(DOC).toContain('| `--keep <duration>` | 7d |');
    // The reasoning paragraph names the same numbers as the defaults.
    expect(DOC).toContain(`\`--lock_ms ${WORKER_DEFAULTS.lockDurationMs}\``);
    expect(DOC).toContain(`\`--stalled_ms ${WORKER_DEFAULTS.stalledIntervalMs}\``);
    expect(DOC).toContain(`\`--max_stalled ${WORKER_DEFAULTS.maxStalledCount}\``);
  });
});

describe('bullmq and ioredis load only with the queue', () => {
  // Records every module URL node resolves, from a hook registered before the imports.
  const probe = (imports: readonly string[]): string[] => {
    const hook = `let port; export function initialize(d) { port = d.port; } export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }`;
    const script = `
      import { register } from 'node:module';
      import { MessageChannel } from 'node:worker_threads';
      const { port1, port2 } = new MessageChannel();
      const seen = [];
      port1.on('message', (u) => seen.push(u));
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), { data: { port: port2 }, transferList: [port2] });
      for (const f of ${JSON.stringify(imports)}) await import(f);
      await new Promise((r) => setTimeout(r, 300));
      port1.close();
      console.log(JSON.stringify(seen.filter((u) => /node_modules\\/(bullmq|ioredis)\\//.test(u))));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
  };
  const dist = (p: string): string => `file://${join(ROOT, 'dist', p)}`;

  it('the main entry and the CLI program do not load them', () => {
    ensureBuilt();
    expect(probe([dist('index.js'), dist('cli/program.js')])).toEqual([]);
  });

  it('the queue entry does (the check above can fail)', () => {
    ensureBuilt();
    const seen = probe([dist('queue/index.js')]);
    expect(seen.some((u) => u.includes('/bullmq/'))).toBe(true);
    expect(seen.some((u) => u.includes('/ioredis/'))).toBe(true);
  });
});
