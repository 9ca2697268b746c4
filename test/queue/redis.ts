// A real redis-server for the queue tests (Debian's, installed by scripts/setup.sh): 127.0.0.1, a free port,
// its own temp dir, stopped afterwards. `restart()` stops it (SIGTERM: Redis flushes its append-only file)
// and starts it again on the same port and dir, as an operator's restart would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from '../helpers/net.js';

export const HAS_REDIS = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
export const REDIS_SKIP_REASON = 'redis-server not found (bash scripts/setup.sh installs it: apt-get install redis-server)';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Everything redis-server printed (for failure messages). */
  log(): string;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export interface RedisOptions {
  /** appendonly yes: queued jobs survive a restart. Default false (and no RDB snapshots either). */
  persistence?: boolean;
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'stnet-redis-'));
  const port = await closedPort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', opts.persistence === true ? 'yes' : 'no', '--daemonize', 'no', '--protected-mode', 'yes'];
  let output = '';
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const halt = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    log: () => output,
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
  };
}

/** One PING over a raw socket (the harness does not depend on the client library under test). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
