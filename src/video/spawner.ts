// Where ffprobe/ffmpeg are started from. Node's spawn() forks this process before exec, and on this VM the fork
// costs time in proportion to the resident memory (its page tables are copied), on the event loop's thread
// (measured with Node 20, 22 and 24 alike, /bin/true: 3 ms at 45 MB RSS, 15 ms at 146 MB, 31 ms at 346 MB,
// 50 ms at 646 MB; in a `stnet run --input_file` batch, 60-127 ms per spawn at 796 MB, two per video). Once this
// process is big, the children are therefore started by a helper: a small Node process (44-45 MiB RSS) that spawns
// what it is asked over its IPC channel, so each fork is cheap again. ffmpeg's stdout socket is handed to the
// helper as a file descriptor, so the frames still go straight from ffmpeg to us; only stderr, the small stdout
// of ffprobe and the exit status travel over the channel.
//
// A small process (a single `stnet run`, a script that loads one video) never starts the helper: its forks are
// cheap and the helper's own start would cost more (82-120 ms from fork to its first child, 5 runs). If the helper cannot start or dies, children
// are spawned directly again.

import { spawn, fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { setPriority } from 'node:os';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { workerModuleUrl } from '../worker-module.js';

/** What runChild needs of a child process; a ChildProcess is one. */
export interface ChildHandle {
  readonly pid?: number | undefined;
  readonly stdin: { end(text: string): unknown; on(event: 'error', listener: (err: Error) => void): unknown } | null;
  readonly stdout: { on(event: 'data', listener: (chunk: Buffer) => void): unknown } | null;
  readonly stderr: { setEncoding(encoding: 'utf8'): unknown; on(event: 'data', listener: (text: string) => void): unknown } | null;
  kill(signal: NodeJS.Signals): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

export interface StartOptions {
  /** Whether the child gets a stdin pipe (else /dev/null). */
  stdin: boolean;
  /** 'pipe': chunks on `stdout`'s 'data'; a socket: the child writes to it (this process's copy is closed). */
  stdout: 'ignore' | 'pipe' | Socket;
  /** Absolute OS priority for the child (os.setPriority), if any. */
  priority?: number | undefined;
}

// ---- the channel's messages (spawn-helper.ts is the other end) ----

export type HelperRequest =
  | {
      type: 'spawn';
      id: number;
      bin: string;
      args: readonly string[];
      /** This process's environment and directory when it asked (a direct spawn would use those). */
      env: NodeJS.ProcessEnv;
      cwd: string;
      stdin: boolean;
      stdout: 'ignore' | 'pipe' | 'socket';
      priority?: number | undefined;
    }
  | { type: 'stdin'; id: number; text: string }
  | { type: 'kill'; id: number; signal: NodeJS.Signals };

export type HelperEvent =
  | { type: 'ready' }
  | { type: 'spawned'; id: number; pid: number }
  | { type: 'stderr'; id: number; text: string }
  | { type: 'stdout'; id: number; data: Uint8Array }
  | { type: 'error'; id: number; message: string; code?: string | undefined; syscall?: string | undefined; path?: string | undefined }
  | { type: 'close'; id: number; code: number | null; signal: NodeJS.Signals | null };

/** The `code` of the error a child gets when the helper that ran it died or could not run it as asked. */
export const HELPER_FAILED = 'E_HELPER_FAILED';

/** Resident memory from which children are started through the helper (see the figures above). */
const DEFAULT_HELPER_MIN_RSS = 160 * 1024 * 1024;
let helperMinRss = DEFAULT_HELPER_MIN_RSS;
/** How long the helper may take to say it is ready (its fork to its first child took 82-120 ms here). */
const HELPER_START_MS = 5000;

/**
 * For tests and benchmarks: the RSS from which the helper is started (0: at once; Infinity: never, even if it
 * runs already). Once started it serves every later child. Returns the previous value. Not public API.
 */
export function setHelperMinRss(bytes: number): number {
  const before = helperMinRss;
  helperMinRss = bytes;
  return before;
}

/** Starts `bin args`: directly, or through the helper once this process is big (see above). */
export function startChild(bin: string, args: readonly string[], opts: StartOptions): ChildHandle {
  if (process.platform === 'linux' && process.versions.electron === undefined && helper !== null && helperMinRss !== Infinity && (helper !== undefined || process.memoryUsage.rss() >= helperMinRss)) {
    helper ??= startHelper();
    if (helper) return helper.start(bin, args, opts);
  }
  return spawnDirect(bin, args, opts);
}

/** spawn() with this process's copy of the socket closed (the child has its own) and the priority set. */
function spawnDirect(bin: string, args: readonly string[], opts: StartOptions, at?: { env: NodeJS.ProcessEnv; cwd: string }): ChildProcess {
  const child = spawn(bin, [...args], { ...at, stdio: [opts.stdin ? 'pipe' : 'ignore', opts.stdout, 'pipe'], windowsHide: true });
  if (typeof opts.stdout === 'object') opts.stdout.destroy();
  if (opts.priority !== undefined && child.pid !== undefined) {
    try {
      setPriority(child.pid, opts.priority);
    } catch {
      // Not permitted or not supported (some containers): the child keeps the normal priority.
    }
  }
  return child;
}

type Control = { type: 'stdin'; text: string } | { type: 'kill'; signal: NodeJS.Signals };

/** A child that the helper runs, seen from here: its events arrive over the channel. */
class RelayedChild extends EventEmitter implements ChildHandle {
  pid: number | undefined;
  readonly stdin: ChildHandle['stdin'];
  readonly stdout: (EventEmitter & ChildHandle['stdout']) | null;
  readonly stderr = Object.assign(new EventEmitter(), { setEncoding: (): void => undefined });
  closed = false;

  /** Where stdin text and kills go: the helper, or the direct child that replaced it. */
  constructor(readonly bin: string, opts: StartOptions, public control: (c: Control) => void) {
    super();
    this.stdout = opts.stdout === 'pipe' ? new EventEmitter() : null;
    this.stdin = opts.stdin ? { end: (text: string) => this.control({ type: 'stdin', text }), on: () => undefined } : null;
  }

  kill(signal: NodeJS.Signals): boolean {
    if (this.closed) return false;
    this.control({ type: 'kill', signal });
    return true;
  }

  deliver(e: HelperEvent): void {
    switch (e.type) {
      case 'spawned':
        this.pid = e.pid;
        break;
      case 'stderr':
        this.stderr.emit('data', e.text);
        break;
      case 'stdout':
        this.stdout?.emit('data', Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
        break;
      case 'error':
        this.emit('error', Object.assign(new Error(e.message), { code: e.code, syscall: e.syscall, path: e.path }));
        break;
      case 'close':
        this.closed = true;
        this.emit('close', e.code, e.signal);
        break;
    }
  }
}

interface Helper {
  start(bin: string, args: readonly string[], opts: StartOptions): ChildHandle;
}

/** undefined: not started yet; null: not available (failed to start, or died): spawn directly. */
let helper: Helper | null | undefined;

function startHelper(): Helper | null {
  let proc: ChildProcess;
  try {
    const program = fileURLToPath(workerModuleUrl('./spawn-helper.js', import.meta.url));
    // No execArgv: the parent's --inspect / --cpu-prof and the like are not for the helper.
    proc = fork(program, [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  } catch {
    return null;
  }
  const children = new Map<number, RelayedChild>();
  let nextId = 1;
  let ready = false;
  let gone = false;
  // Requests wait here until the helper says it listens (a message sent before could be lost).
  const queue: Array<[HelperRequest, Socket | undefined]> = [];
  const post = (m: HelperRequest, handle?: Socket): void => {
    if (!ready) {
      queue.push([m, handle]);
      return;
    }
    try {
      if (handle) proc.send(m, handle);
      else proc.send(m);
    } catch {
      // The channel has just closed: 'exit' fails the children.
    }
  };
  // Idle, the helper keeps neither this process alive nor itself: it exits when the channel closes.
  const idle = (): void => {
    proc.channel?.unref();
    proc.unref();
  };
  idle();
  const fail = (why: string): void => {
    if (gone) return;
    gone = true;
    if (helper === self) helper = null;
    // Requests that never reached it run directly instead, in their order (a stdin or kill after its spawn).
    const moved = new Map<number, RelayedChild>();
    for (const [m, handle] of queue.splice(0)) {
      const relay = moved.get(m.id) ?? children.get(m.id);
      if (!relay) continue;
      if (m.type === 'spawn') {
        children.delete(m.id);
        moved.set(m.id, relay);
        relayDirect(relay, m, handle);
      } else relay.control(m);
    }
    // Children it had (or was about to have) are lost with it.
    for (const relay of children.values()) {
      if (relay.closed) continue;
      if (relay.pid !== undefined) {
        try {
          process.kill(relay.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      relay.deliver({ type: 'error', id: 0, code: HELPER_FAILED, message: `stnet's process helper (pid ${proc.pid}) ${why} while it ran ${relay.bin} (later runs start their children directly)` });
      relay.deliver({ type: 'close', id: 0, code: null, signal: 'SIGKILL' });
    }
    children.clear();
  };
  // A runtime whose execPath is not a plain Node (an Electron app, a single-executable build) would not run the
  // helper's program: whatever waits for it then runs directly.
  const startup = setTimeout(() => {
    fail('did not start');
    proc.kill('SIGKILL');
  }, HELPER_START_MS);
  startup.unref();
  proc.on('message', (e: HelperEvent) => {
    if (e.type === 'ready') {
      clearTimeout(startup);
      ready = true;
      for (const [m, handle] of queue.splice(0)) post(m, handle);
      return;
    }
    const relay = children.get(e.id);
    if (!relay) return;
    relay.deliver(e);
    if (e.type === 'close') {
      children.delete(e.id);
      if (children.size === 0) idle();
    }
  });
  proc.on('error', () => fail('failed'));
  proc.on('exit', (code, signal) => fail(`exited (${signal ?? `status ${code}`})`));

  const self: Helper = {
    start(bin, args, opts) {
      const id = nextId++;
      const relay = new RelayedChild(bin, opts, (c) => post({ id, ...c }));
      children.set(id, relay);
      // While a child runs the helper is referenced, so that its events still arrive.
      proc.ref();
      proc.channel?.ref();
      const socket = typeof opts.stdout === 'object' ? opts.stdout : undefined;
      // Node keeps, per net.Server, a record and an 'exit' listener on the helper for each socket accepted by
      // that server and then sent (cluster's connection counting); they are never dropped, one per video here.
      // Our server is closed once it has accepted (stdout-socket.ts), so the socket goes as a plain one.
      if (socket) Object.assign(socket, { server: null });
      const stdout = socket ? 'socket' : (opts.stdout as 'ignore' | 'pipe');
      post({ type: 'spawn', id, bin, args: [...args], env: { ...process.env }, cwd: process.cwd(), stdin: opts.stdin, stdout, priority: opts.priority }, socket);
      return relay;
    },
  };
  return self;
}

/** Runs a request the helper never got as a direct child, relaying its events to the handle already given out. */
function relayDirect(relay: RelayedChild, m: Extract<HelperRequest, { type: 'spawn' }>, socket: Socket | undefined): void {
  const child = spawnRequest(m, socket, (e) => relay.deliver(e));
  if (child) relay.control = (c) => (c.type === 'stdin' ? child.stdin?.end(c.text) : child.kill(c.signal));
}

/**
 * Spawns what a request asks (the helper's spawns, and the requests relayDirect takes back) and reports the
 * child's pid, output and exit to `out` as channel events; a spawn that throws is reported as error and close.
 */
export function spawnRequest(m: Extract<HelperRequest, { type: 'spawn' }>, socket: Socket | undefined, out: (e: HelperEvent) => void): ChildProcess | undefined {
  let child: ChildProcess;
  try {
    child = spawnDirect(m.bin, m.args, { stdin: m.stdin, stdout: socket ?? (m.stdout === 'pipe' ? 'pipe' : 'ignore'), priority: m.priority }, { env: m.env, cwd: m.cwd });
  } catch (err) {
    socket?.destroy();
    out({ type: 'error', id: m.id, message: (err as Error).message });
    out({ type: 'close', id: m.id, code: null, signal: null });
    return undefined;
  }
  const { id } = m;
  if (child.pid !== undefined) out({ type: 'spawned', id, pid: child.pid });
  // The child may exit before reading its stdin; its exit status tells why.
  child.stdin?.on('error', () => undefined);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => out({ type: 'stderr', id, text }));
  child.stdout?.on('data', (data: Buffer) => out({ type: 'stdout', id, data }));
  child.on('error', (err: NodeJS.ErrnoException) => out({ type: 'error', id, message: err.message, code: err.code, syscall: err.syscall, path: err.path }));
  child.on('close', (code, signal) => out({ type: 'close', id, code, signal }));
  return child;
}
