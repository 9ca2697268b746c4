// stnet-kinetics400/queue: classification spread over machines with BullMQ on Redis (docs/scale.md).
// A separate entry point so that bullmq and ioredis load only for those who use it; src/index.ts never
// imports this folder.
export { submitBatch, checkSubmitOptions } from './submit.js';
export type { SubmitOptions, SubmitResult } from './submit.js';
export { runWorker, WORKER_DEFAULTS, WORKER_LIMITS } from './worker.js';
export type { WorkerOptions, WorkerEvent, WorkerStats, QueueWorker } from './worker.js';
export { batchStatus, batchResults, waitForBatch } from './status.js';
export type { BatchQuery, BatchStatus, WaitOptions } from './status.js';
export { jobIdOf, DEFAULT_QUEUE, DEFAULT_KEEP_SECONDS, DEFAULT_ATTEMPTS } from './jobs.js';
export { probeRedis } from './connection.js';
