// WorkQueue on its own: slots, FIFO hand-over of workers, cancellation while waiting, idleness.
import { describe, expect, it, vi } from 'vitest';
import { WorkQueue, cancelled } from '../../src/server/queue.js';
import { StnetError } from '../../src/errors.js';
import { deferred } from './helpers.js';

describe('WorkQueue', () => {
  it('admits workers + maxQueue requests, then refuses; a released slot (released twice) frees exactly one', () => {
    const q = new WorkQueue(['w1', 'w2'], 1);
    const slots = [q.tryAdmit(), q.tryAdmit(), q.tryAdmit()];
    expect(slots.every((s) => s !== undefined)).toBe(true);
    expect(q.tryAdmit()).toBeUndefined();
    expect(q.stats()).toEqual({ workers: 2, running: 0, waiting: 0, admitted: 3, capacity: 3 });
    slots[0]!.release();
    slots[0]!.release();
    expect(q.stats().admitted).toBe(2);
    expect(q.tryAdmit()).toBeDefined();
    expect(q.tryAdmit()).toBeUndefined();
  });

  it('hands a freed worker to the longest-waiting job (FIFO), and the worker is busy until the job settles', async () => {
    const q = new WorkQueue(['only'], 5);
    const order: string[] = [];
    const gate = deferred();
    const never = new AbortController().signal;
    const first = q.run(never, async (w) => {
      order.push(`a:${w}`);
      await gate.promise;
    });
    const second = q.run(never, async (w) => void order.push(`b:${w}`));
    const third = q.run(never, async (w) => void order.push(`c:${w}`));
    await Promise.resolve();
    expect(q.stats()).toMatchObject({ running: 1, waiting: 2 });
    expect(order).toEqual(['a:only']);
    gate.resolve();
    await Promise.all([first, second, third]);
    expect(order).toEqual(['a:only', 'b:only', 'c:only']);
    expect(q.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('a job whose signal aborts while waiting leaves the queue with its reason, never getting a worker', async () => {
    const q = new WorkQueue(['only'], 5);
    const gate = deferred();
    const never = new AbortController().signal;
    const running = q.run(never, () => gate.promise);
    const client = new AbortController();
    let ran = false;
    const waiting = q.run(client.signal, async () => void (ran = true));
    expect(q.stats().waiting).toBe(1);
    client.abort(new StnetError('E_CANCELLED', 'client gone'));
    await expect(waiting).rejects.toMatchObject({ code: 'E_CANCELLED', message: 'client gone' });
    expect(q.stats().waiting).toBe(0);
    gate.resolve();
    await running;
    expect(ran).toBe(false);
    // An already-aborted signal is refused before taking a worker.
    await expect(q.run(client.signal, async () => 1)).rejects.toMatchObject({ code: 'E_CANCELLED' });
    expect(q.stats().running).toBe(0);
  });

  it('a job that throws gives its worker back', async () => {
    const q = new WorkQueue(['only'], 0);
    const never = new AbortController().signal;
    await expect(q.run(never, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(q.run(never, async (w) => w)).resolves.toBe('only');
  });

  it('whenIdle resolves once no slot is held and no job runs or waits', async () => {
    const q = new WorkQueue(['only'], 1);
    await q.whenIdle();
    const slot = q.tryAdmit()!;
    const gate = deferred();
    const job = q.run(new AbortController().signal, () => gate.promise);
    let idle = false;
    const w = q.whenIdle().then(() => (idle = true));
    gate.resolve();
    await job;
    await Promise.resolve();
    expect(idle).toBe(false);
    slot.release();
    await w;
    expect(idle).toBe(true);
  });

  it('Retry-After is the expected drain time of the backlog (average job time x jobs / workers), 1..120 s', async () => {
    let now = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const q = new WorkQueue(['a', 'b'], 10);
      expect(q.retryAfterSeconds()).toBe(1); // no history, empty queue
      const never = new AbortController().signal;
      await q.run(never, async () => void (now += 10_000)); // one job of 10 s
      const gate = deferred();
      const jobs = [1, 2, 3, 4].map(() => q.run(never, () => gate.promise));
      await Promise.resolve();
      expect(q.stats()).toMatchObject({ running: 2, waiting: 2 });
      expect(q.retryAfterSeconds()).toBe(20); // 4 jobs x 10 s / 2 workers
      for (let i = 0; i < 40; i++) q.run(new AbortController().signal, () => gate.promise).catch(() => undefined);
      expect(q.retryAfterSeconds()).toBe(120); // capped
      gate.resolve();
      await Promise.all(jobs);
    } finally {
      clock.mockRestore();
    }
  });

  it('cancelled() keeps a StnetError reason and wraps any other', () => {
    const c = new AbortController();
    c.abort(new Error('x'));
    expect(cancelled(c.signal)).toMatchObject({ code: 'E_CANCELLED', message: 'The request was cancelled before it finished (client disconnected)' });
    const d = new AbortController();
    d.abort(new StnetError('E_CANCELLED', 'shutdown'));
    expect(cancelled(d.signal).message).toBe('shutdown');
  });

  it('needs at least one worker', () => {
    expect(() => new WorkQueue([], 1)).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }));
  });
});
