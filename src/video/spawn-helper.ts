// The process helper's program (spawner.ts says why it exists). It is forked by stnet with an IPC channel,
// spawns what it is asked, relays each child's stderr, stdout and exit, and when the channel closes (stnet
// exited) kills what it still runs and exits too.
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { HELPER_FAILED, spawnRequest, type HelperEvent, type HelperRequest } from './spawner.js';

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
    send({ type: 'error', id, code: HELPER_FAILED, message: `the stdout socket for ${m.bin} did not reach stnet's process helper` });
    send({ type: 'close', id, code: null, signal: null });
    return;
  }
  const child = spawnRequest(m, socket, send);
  if (child === undefined) return;
  children.set(id, child);
  child.on('close', () => children.delete(id));
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
