// A bounded queue in front of N workers (one loaded model each).
//
// Admission and scheduling are separate on purpose: a request takes a *slot* before its upload is read
// (so a full server answers 429 at once, without receiving hundreds of megabytes first), and takes a
// *worker* only once its video is on disk. Slots = workers + maxQueue, so at most maxQueue uploaded or
// uploading videos wait while every worker is busy, which also bounds the temp dir's size.
import { StnetError } from '../errors.js';

export interface Slot {
  /** Gives the slot back; safe to call more than once. */
  release(): void;
}

interface Waiter<W> {
  resolve(worker: W): void;
  reject(err: unknown): void;
  signal: AbortSignal;
  onAbort(): void;
}

export interface QueueStats {
  workers: number;
  /** Workers running a job now. */
  running: number;
  /** Jobs waiting for a worker (uploaded, not started). */
  waiting: number;
  /** Slots taken: uploading + waiting + running. */
  admitted: number;
  /** Slots in all: workers + maxQueue. */
  capacity: number;
}

export class WorkQueue<W> {
  readonly #workers: readonly W[];
  readonly #idle: W[];
  readonly #waiting: Waiter<W>[] = [];
  readonly #capacity: number;
  #admitted = 0;
  /** Exponential moving average of job durations (ms), for Retry-After. */
  #avgJobMs = 0;
  readonly #idleListeners: Array<() => void> = [];

  constructor(workers: readonly W[], maxQueue: number) {
    if (workers.length === 0) throw new StnetError('E_INVALID_OPTION', 'Expected at least one worker for the queue but received 0');
    this.#workers = workers;
    this.#idle = [...workers];
    this.#capacity = workers.length + maxQueue;
  }

  get workers(): readonly W[] {
    return this.#workers;
  }

  stats(): QueueStats {
    return {
      workers: this.#workers.length,
      running: this.#workers.length - this.#idle.length,
      waiting: this.#waiting.length,
      admitted: this.#admitted,
      capacity: this.#capacity,
    };
  }

  /** Takes a slot, or returns undefined when every slot is taken (the caller answers 429). */
  tryAdmit(): Slot | undefined {
    if (this.#admitted >= this.#capacity) return undefined;
    this.#admitted++;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.#admitted--;
        this.#notifyIfIdle();
      },
    };
  }

  /** Seconds a client should wait before retrying: the expected time for the backlog to drain, 1..120. */
  retryAfterSeconds(): number {
    const perJob = this.#avgJobMs > 0 ? this.#avgJobMs : 1000;
    const backlog = this.#waiting.length + (this.#workers.length - this.#idle.length);
    const s = Math.ceil((perJob * Math.max(1, backlog)) / this.#workers.length / 1000);
    return Math.min(120, Math.max(1, s));
  }

  /**
   * Runs `fn` on the next free worker. Rejects with E_CANCELLED if `signal` aborts while waiting; once
   * started, `fn` gets the signal and the worker is only handed back when `fn` settles (so a job that
   * cannot stop at once, e.g. an onnxruntime run, never overlaps the next one on the same model).
   */
  async run<T>(signal: AbortSignal, fn: (worker: W) => Promise<T>): Promise<T> {
    const worker = await this.#acquire(signal);
    const started = performance.now();
    try {
      return await fn(worker);
    } finally {
      const ms = performance.now() - started;
      this.#avgJobMs = this.#avgJobMs === 0 ? ms : this.#avgJobMs * 0.8 + ms * 0.2;
      this.#releaseWorker(worker);
    }
  }

  /** Resolves when no job is running or waiting and no slot is held. */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleListeners.push(resolve));
  }

  #isIdle(): boolean {
    return this.#admitted === 0 && this.#waiting.length === 0 && this.#idle.length === this.#workers.length;
  }

  #notifyIfIdle(): void {
    if (!this.#isIdle()) return;
    for (const l of this.#idleListeners.splice(0)) l();
  }

  #acquire(signal: AbortSignal): Promise<W> {
    if (signal.aborted) return Promise.reject(cancelled(signal));
    const free = this.#idle.pop();
    if (free !== undefined) return Promise.resolve(free);
    return new Promise<W>((resolve, reject) => {
      const waiter: Waiter<W> = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiting.indexOf(waiter);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(cancelled(signal));
          this.#notifyIfIdle();
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #releaseWorker(worker: W): void {
    const next = this.#waiting.shift();
    if (next !== undefined) {
      next.signal.removeEventListener('abort', next.onAbort);
      next.resolve(worker);
      return;
    }
    this.#idle.push(worker);
    this.#notifyIfIdle();
  }
}

/** The StnetError an aborted signal stands for (its reason when that is one, else E_CANCELLED). */
export function cancelled(signal: AbortSignal): StnetError {
  const reason: unknown = signal.reason;
  if (reason instanceof StnetError) return reason;
  return new StnetError('E_CANCELLED', 'The request was cancelled before it finished (client disconnected)', { cause: reason });
}
