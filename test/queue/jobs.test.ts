// The pure parts of the queue: job ids, paths, --keep, failure reasons, option checks (no Redis needed).
import { describe, expect, it } from 'vitest';
import { batchKeys, checkBatchId, checkJobOptions, decodeFailure, encodeFailure, jobIdOf, parseJobData, parseKeep, toJobPath } from '../../src/queue/jobs.js';
import { checkSubmitOptions } from '../../src/queue/submit.js';
import { checkWorkerOptions } from '../../src/queue/worker.js';
import { checkRedisUrl, redactUrl } from '../../src/queue/url.js';
import { expectCode } from '../helpers/errors.js';

describe('jobIdOf', () => {
  it('is the same for the same (batch, path) and differs when either differs', () => {
    const id = jobIdOf('b1', '/data/a.mp4');
    expect(id).toMatch(/^b1\.[0-9a-f]{32}$/);
    expect(jobIdOf('b1', '/data/a.mp4')).toBe(id);
    expect(jobIdOf('b2', '/data/a.mp4')).not.toBe(id);
    expect(jobIdOf('b1', '/data/b.mp4')).not.toBe(id);
    // The separator keeps ("b1", "x/y") and ("b1x", "/y") apart.
    expect(jobIdOf('b1', 'x/y')).not.toBe(jobIdOf('b1x', '/y'));
    // BullMQ refuses ':' in custom ids; paths may hold it.
    expect(jobIdOf('b1', '/data/12:30:00.mp4')).not.toContain(':');
  });
});

describe('toJobPath', () => {
  it.each([
    ['a.mp4', '/work', '/work/a.mp4'],
    ['../v/a.mp4', '/work/x', '/work/v/a.mp4'],
    ['/abs/./a.mp4', '/work', '/abs/a.mp4'],
    ['https://example.com/v/a b.mp4', '/work', 'https://example.com/v/a%20b.mp4'],
    ['HTTP://Example.com/a.mp4', '/work', 'http://example.com/a.mp4'],
  ])('%s (cwd %s) -> %s', (path, cwd, expected) => {
    expect(toJobPath(path, cwd)).toBe(expected);
  });
});

describe('parseKeep', () => {
  it.each([
    ['3600', 3600],
    ['90m', 5400],
    ['12h', 43200],
    ['7d', 604800],
    [' 60s ', 60],
    [120, 120],
  ])('%j -> %i s', (value, seconds) => {
    expect(parseKeep(value)).toBe(seconds);
  });

  it.each([['59'], ['1m30s'], ['-1d'], [''], ['7w'], [59]])('%j is refused', (value) => {
    expectCode(() => parseKeep(value, '--keep'), 'E_INVALID_OPTION', /for --keep but received/);
  });
});

describe('failure reasons', () => {
  it('round-trip the code and message', () => {
    expect(decodeFailure(encodeFailure('E_VIDEO_NOT_FOUND', 'Video not found: /a.mp4'))).toEqual({ code: 'E_VIDEO_NOT_FOUND', message: 'Video not found: /a.mp4' });
    expect(decodeFailure('E_VIDEO_UNDECODABLE: line 1\nline 2: x')).toEqual({ code: 'E_VIDEO_UNDECODABLE', message: 'line 1\nline 2: x' });
  });

  it("give BullMQ's own reasons a code", () => {
    expect(decodeFailure('job stalled more than allowable limit').code).toBe('E_QUEUE_STALLED');
    expect(decodeFailure('E_NOT_A_CODE: x')).toEqual({ code: 'E_RUNTIME', message: 'E_NOT_A_CODE: x' });
    expect(decodeFailure(undefined)).toEqual({ code: 'E_RUNTIME', message: 'the job failed without a reason' });
  });
});

describe('option checks, before any Redis work', () => {
  it('batch ids and queue names cannot hold ":" or spaces', () => {
    expect(checkBatchId('val-2026.1_a')).toBe('val-2026.1_a');
    for (const bad of ['', 'a:b', 'a b', '-a', 'x'.repeat(129), 3]) expectCode(() => checkBatchId(bad), 'E_INVALID_OPTION', /for batch but received/);
    expectCode(() => checkSubmitOptions({ redis: 'redis://h', queue: 'q:1', batch: 'b', paths: ['a'] }), 'E_INVALID_OPTION', /for queue but received "q:1"/);
  });

  it('per-video options are those of model.classify, typos refused', () => {
    expect(checkJobOptions({ topK: 3, segNum: 7 })).toEqual({ topK: 3, segNum: 7 });
    expectCode(() => checkJobOptions({ top_k: 3 }), 'E_INVALID_OPTION', /Unknown option "top_k" \(did you mean topK\?\)/);
    expectCode(() => checkJobOptions({ segNum: 0 }), 'E_INVALID_OPTION', /Expected integer between 1 and 100 for segNum but received 0/);
    expectCode(() => checkJobOptions({ onProgress: () => undefined }), 'E_INVALID_OPTION', /cannot travel through Redis/);
  });

  it('job data from Redis is checked again in the worker', () => {
    const data = { v: 1, batch: 'b', path: '/a.mp4', options: { topK: 2 } };
    expect(parseJobData(data)).toEqual(data);
    expectCode(() => parseJobData({ v: 2, batch: 'b', path: '/a.mp4' }), 'E_INVALID_OPTION', /cannot read/);
    expectCode(() => parseJobData({ ...data, options: { topK: 0 } }), 'E_INVALID_OPTION', /for topK/);
  });

  it('submit: paths made absolute, defaults filled', () => {
    const o = checkSubmitOptions({ redis: 'redis://h:1', batch: 'b', paths: ['a.mp4', '/x/b.mp4'], cwd: '/w' });
    expect(o).toEqual({ redis: 'redis://h:1', queue: 'stnet', batch: 'b', paths: ['/w/a.mp4', '/x/b.mp4'], options: {}, priority: undefined, attempts: 3, keepSeconds: 604800 });
    expectCode(() => checkSubmitOptions({ redis: 'redis://h', batch: 'b', paths: [] }), 'E_INVALID_OPTION', /at least one video/);
    expectCode(() => checkSubmitOptions({ redis: 'redis://h', batch: 'b', paths: ['a'], attempts: 0 }), 'E_INVALID_OPTION', /for attempts/);
    expectCode(() => checkSubmitOptions({ redis: 'redis://h', batch: 'b', paths: ['a'], priority: 0 }), 'E_INVALID_OPTION', /for priority/);
  });

  it('worker: defaults and bounds', () => {
    expect(checkWorkerOptions({ redis: 'redis://h' })).toEqual({
      redis: 'redis://h',
      queue: 'stnet',
      concurrency: 1,
      lockDurationMs: 60000,
      stalledIntervalMs: 15000,
      maxStalledCount: 2,
      maxDownloadBytes: 1024 * 1048576,
    });
    expectCode(() => checkWorkerOptions({ redis: 'redis://h', lockDurationMs: 100 }), 'E_INVALID_OPTION', /between 500 and 3600000 for lockDurationMs/);
  });

  it('Redis URLs: redis:// or rediss:// with a host; passwords masked in messages', () => {
    expect(checkRedisUrl('rediss://u:p@h:6380/2')).toBe('rediss://u:p@h:6380/2');
    for (const bad of ['', 'localhost:6379', 'http://h:6379', 'redis://']) expectCode(() => checkRedisUrl(bad), 'E_INVALID_OPTION', /for redis but received/);
    expect(redactUrl('redis://user:secret@h:6379/0')).toBe('redis://user:***@h:6379/0');
    expect(redactUrl('redis://h:6379')).toBe('redis://h:6379');
  });

  it('batch keys share one Redis Cluster hash slot', () => {
    expect(batchKeys('bull', 'stnet', 'b1')).toEqual({ paths: 'bull:stnet:stnet-batch:{b1}:paths', members: 'bull:stnet:stnet-batch:{b1}:members' });
  });
});
