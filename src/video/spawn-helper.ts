// The process helper's program (spawner.ts says why it exists). It is forked by stnet with an IPC channel,
// spawns what it is asked, relays each child's stderr, stdout and exit, and when the channel closes (stnet
// exited) kills what it still runs and exits too.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { setPriority } from 'node:os';
import { HELPER_GONE, type HelperEvent, type HelperRequest } from './spawner.js';

const children = new Map<number, ChildProcess>();

function send(e: HelperEvent): void {
  try {
    process.send?.(e);
  } catch {
    // The channel closed: 'disconnect' follows.
  }
}

function start(m: Extract<HelperRequest, { type: 'spawn' }>, socket: Socket | undefined): void {
  const { id } = m;
  if (m.stdout === 'socket' && socket === undefined) {
    // Node hands over no socket that closed on the way: the child would write its frames nowhere.
    send({ type: 'error', id, code: HELPER_GONE, message: `the stdout socket for ${m.bin} did not reach stnet's process helper` });
    send({ type: 'close', id, code: null, signal: null });
    return;
  }
  let child: ChildProcess;
  try {
    child = spawn(m.bin, [...m.args], { env: m.env, cwd: m.cwd, stdio: [m.stdin ? 'pipe' : 'ignore', socket ?? (m.stdout === 'pipe' ? 'pipe' : 'ignore'), 'pipe'], windowsHide: true });
  } catch (err) {
    socket?.destroy();
    send({ type: 'error', id, message: (err as Error).message });
    send({ type: 'close', id, code: null, signal: null });
    return;
  }
  // The child has its own copy; this one would keep the reader from seeing the end.
  socket?.destroy();
  children.set(id, child);
  if (child.pid !== undefined) {
    if (m.priority !== undefined) {
      try {
        setPriority(child.pid, m.priority);
      } catch {
        // Not permitted or not supported: the child keeps the normal priority.
      }
    }
    send({ type: 'spawned', id, pid: child.pid });
  }
  // The child may exit before reading its stdin; its exit status tells why.
  child.stdin?.on('error', () => undefined);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => send({ type: 'stderr', id, text }));
  child.stdout?.on('data', (data: Buffer) => send({ type: 'stdout', id, data }));
  child.on('error', (err: NodeJS.ErrnoException) => send({ type: 'error', id, message: err.message, code: err.code, syscall: err.syscall, path: err.path }));
  child.on('close', (code, signal) => {
    children.delete(id);
    send({ type: 'close', id, code, signal });
  });
}

process.on('message', (m: HelperRequest, handle: unknown) => {
  if (m.type === 'spawn') start(m, (handle ?? undefined) as Socket | undefined);
  else if (m.type === 'stdin') children.get(m.id)?.stdin?.end(m.text);
  else if (m.type === 'kill') children.get(m.id)?.kill(m.signal);
});
// A terminal's Ctrl-C or a service manager's SIGTERM reaches the whole process group: stnet decides what its
// children do then (a server finishes its in-flight videos), and the helper lives until stnet's channel closes.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => undefined);
process.on('disconnect', () => {
  for (const child of children.values()) child.kill('SIGKILL');
  process.exit(0);
});
send({ type: 'ready' });
