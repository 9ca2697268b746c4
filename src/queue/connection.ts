// Redis connections for the queue. Two jobs: fail fast and clearly when Redis is not there (a probe with
// no retries and a short timeout, before any model loads), and once it was reached, survive a Redis
// restart (the long-lived clients retry forever with a capped backoff; BullMQ needs
// maxRetriesPerRequest: null on them so a command waits for the reconnect instead of failing).
import { Redis } from 'ioredis';
import { StnetError } from '../errors.js';
import { checkRedisUrl, redactUrl } from './url.js';

export { checkRedisUrl, redactUrl };

/** How long the first contact with Redis may take before E_QUEUE_UNREACHABLE (a refused port fails at once). */
export const CONNECT_TIMEOUT_MS = 3000;
/** Longest pause between reconnect attempts after Redis went away. */
const MAX_RECONNECT_DELAY_MS = 2000;

function unreachable(url: string, detail: string, cause?: unknown): StnetError {
  return new StnetError(
    'E_QUEUE_UNREACHABLE',
    `cannot reach Redis at ${redactUrl(url)} (${detail}): start Redis there or pass the right --redis URL`,
    cause === undefined ? {} : { cause },
  );
}

/**
 * One connection attempt, no retries, CONNECT_TIMEOUT_MS at most; resolves with the server's version.
 * Throws E_QUEUE_UNREACHABLE naming the URL.
 */
export async function probeRedis(url: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<string> {
  checkRedisUrl(url);
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // ioredis waits this long for a 'close' that a refused socket already emitted: the process would linger.
    disconnectTimeout: 50,
  });
  // Without a listener ioredis prints "Unhandled error event" for the refused connection.
  let lastError: unknown;
  client.on('error', (err: unknown) => (lastError = err));
  const timer = setTimeout(() => client.disconnect(), timeoutMs + 500);
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    return version;
  } catch (err) {
    const e = (lastError ?? err) as NodeJS.ErrnoException;
    const detail = e.code !== undefined ? `${e.code}${e.message.includes(e.code) ? '' : `: ${e.message}`}` : (e.message ?? String(e));
    const why = /connection is closed/i.test(detail) ? `no answer within ${timeoutMs} ms` : /RESP/.test(detail) ? 'the server there does not speak the Redis protocol' : detail;
    throw unreachable(url, why, e);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/**
 * A long-lived client: reconnects forever (capped backoff), commands wait for the reconnect
 * (maxRetriesPerRequest: null, which BullMQ requires for workers). Call probeRedis first for a fast failure.
 */
export function openRedis(url: string, onError?: (message: string) => void): Redis {
  checkRedisUrl(url);
  const client = new Redis(url, {
    maxRetriesPerRequest: null,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 10), MAX_RECONNECT_DELAY_MS),
  });
  client.on('error', (err: Error) => onError?.(err.message));
  return client;
}
