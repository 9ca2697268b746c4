// `stnet worker`, `stnet submit`, `stnet status`, `stnet results`: flag translation and output over
// src/queue (docs/scale.md). The queue library is imported when one of these commands runs, so the
// other commands never load bullmq or ioredis.
import { Option, type Command } from 'commander';
import { validateClassifyOptions, type VideoResult } from '../classify.js';
import { StnetError } from '../errors.js';
// Checks only: jobs.ts and url.ts load neither bullmq nor ioredis (the library is imported lazily below).
import { checkBatchId, checkQueueName, parseKeep } from '../queue/jobs.js';
import { checkRedisUrl } from '../queue/url.js';
import type { StNetLoadOptions } from '../stnet.js';
import { formatter } from './format.js';
import {
  FORMATS,
  EMBEDDING_FLAG,
  INT_OPTIONS,
  QUEUE_DEFAULT_NAME,
  QUEUE_INT_OPTIONS,
  STATUS_FORMATS,
  SUBMIT_INT_KEYS,
  WORKER_INT_KEYS,
  checkFormat,
  flagOf,
  toClassifyOptions,
  toQueueValues,
  toRunValues,
  type Format,
  type QueueValues,
  type StatusFormat,
} from './options.js';
import { colorEnabled, type Ui } from './progress.js';
import { EXIT_CODE_HELP, EXIT_OK, EXIT_SOME_FAILED, type CliIo } from './action.js';

type CommandFn = (raw: Record<string, unknown>, ui: Ui, signal: AbortSignal) => Promise<number>;

export interface QueueCliDeps {
  readonly io: CliIo;
  /** program.ts's action wrapper (Ui, Ctrl-C, errors -> exit codes). */
  readonly action: (fn: CommandFn, cancellable?: boolean) => (raw: Record<string, unknown>, cmd: Command) => Promise<void>;
  /** `stnet run`'s --input_file reader (one reader for both commands). */
  readonly readList: (file: string, cwd: string) => Promise<string[]>;
}

const EXIT_HELP = `${EXIT_CODE_HELP}  2 also: Redis unreachable (E_QUEUE_UNREACHABLE, within a few seconds)\n`;

const redisOption = (): Option => new Option('--redis <url>', 'Redis to use: redis://[user:password@]host:port[/db] (rediss:// for TLS)').makeOptionMandatory();
const queueOption = (): Option => new Option('--queue <name>', `BullMQ queue name (default ${QUEUE_DEFAULT_NAME})`);
const batchOption = (): Option => new Option('--batch <id>', 'batch id: letters, digits, ".", "_", "-"').makeOptionMandatory();
const intOption = (key: string): Option => {
  const o = [...QUEUE_INT_OPTIONS, ...INT_OPTIONS].find((s) => s.key === key)!;
  return new Option(`${o.flag} ${o.arg}`, `${o.description}; ${o.limits[0]}..${o.limits[1]}`);
};

/** Adds the four queue commands to the program. */
export function registerQueueCommands(program: Command, deps: QueueCliDeps): void {
  const { io, action } = deps;

  const worker = program
    .command('worker')
    .description('take videos from a Redis queue and classify them (loads the model once; see docs/scale.md)')
    .addOption(redisOption())
    .addOption(queueOption());
  for (const key of WORKER_INT_KEYS) worker.addOption(intOption(key));
  worker
    .addOption(intOption('threads'))
    .addOption(new Option('--weights <path>', 'weights (default: STNET_WEIGHTS, else the cache, else download)'))
    .addOption(new Option('--weights_url <url>', 'download the weights from this URL when they are not cached'))
    .addOption(new Option('--precision <p>', 'passed to the model loader as its precision option (where this stnet supports one)'))
    .addOption(new Option('--use_gpu', "run on onnxruntime's CUDA provider"))
    .addOption(new Option('--quiet', 'no per-video lines on stderr (errors and warnings still)'))
    .addHelpText(
      'after',
      `
Runs until SIGTERM or SIGINT: then it takes no new video, finishes the current one, and exits 0. A second
signal ends it at once; a worker that dies (SIGKILL, power loss) loses nothing: after --lock_ms its video goes
back to the queue for another worker. Redis restarts are waited out.

Examples:
  $ stnet worker --redis redis://queue-host:6379
  $ stnet worker --redis redis://queue-host:6379 --concurrency 2 --threads 1
${EXIT_HELP}`,
    )
    .action(action((raw, ui) => workerCommand(raw, ui), false));

  const submit = program
    .command('submit')
    .description('queue one job per video; prints the batch id (with --wait: the results, as "stnet run" prints them)')
    .addOption(redisOption())
    .addOption(queueOption())
    .addOption(batchOption())
    .addOption(new Option('--input_path <video...>', 'video file or http(s) URL; repeat it or list several (paths are made absolute: workers must see the same files)'))
    .addOption(new Option('--input_file <list>', 'text file with one video per line (# comments and blank lines skipped)'));
  for (const o of INT_OPTIONS) if (o.key !== 'threads') submit.addOption(new Option(`${o.flag} ${o.arg}`, `${o.description}; ${o.limits[0]}..${o.limits[1]}`));
  for (const key of SUBMIT_INT_KEYS) submit.addOption(intOption(key));
  submit
    .addOption(new Option(EMBEDDING_FLAG.flag, EMBEDDING_FLAG.description))
    .addOption(new Option('--keep <duration>', 'how long results stay in Redis: seconds or 90m, 12h, 7d (default 7d)'))
    .addOption(new Option('--wait', 'wait for the batch: progress on stderr, then the results on stdout'))
    .addOption(new Option('--format <format>', `with --wait: ${FORMATS.join(', ')} (default: text on a terminal, else json)`))
    .addOption(new Option('--quiet', 'no progress or info on stderr'))
    .addHelpText(
      'after',
      `
The job id is derived from (batch, path): submitting the same list again does no work twice (a video
already done, failed, queued or running is left as it is). Use a new --batch to classify again.

Examples:
  $ stnet submit --redis redis://queue-host:6379 --batch kinetics-val --input_file val.txt
  $ stnet submit --redis redis://queue-host:6379 --batch b1 --input_path /nfs/a.mp4 --wait --format jsonl
${EXIT_HELP}`,
    )
    .action(action((raw, ui, signal) => submitCommand(raw, ui, deps, signal)));

  program
    .command('status')
    .description('counts of a batch: total, done, failed, waiting, active')
    .addOption(redisOption())
    .addOption(queueOption())
    .addOption(batchOption())
    .addOption(new Option('--format <format>', `${STATUS_FORMATS.join(' or ')} (default text); json: {"batch","total","done","failed","waiting","active"}`))
    .addHelpText('after', `\nExamples:\n  $ stnet status --redis redis://queue-host:6379 --batch b1\n  $ stnet status --redis redis://queue-host:6379 --batch b1 --format json\n${EXIT_HELP}`)
    .action(action((raw) => statusCommand(raw, io)));

  program
    .command('results')
    .description('results of a batch so far (done and failed videos), in input order, as "stnet run" prints them')
    .addOption(redisOption())
    .addOption(queueOption())
    .addOption(batchOption())
    .addOption(new Option('--format <format>', `${FORMATS.join(', ')} (default: text on a terminal, else json)`))
    .addHelpText('after', `\nExit code 1 when a listed video failed.\n\nExamples:\n  $ stnet results --redis redis://queue-host:6379 --batch b1 --format jsonl >> results.jsonl\n${EXIT_HELP}`)
    .action(action((raw) => resultsCommand(raw, io)));
}

// ---------------------------------------------------------------- worker

async function workerCommand(raw: Record<string, unknown>, ui: Ui): Promise<number> {
  const v = checkQueueFlags(toQueueValues(raw));
  const run = toRunValues({ threads: raw.threads, weights: raw.weights, weights_url: raw.weights_url, use_gpu: raw.use_gpu });
  // A worker is a service: one line for a first-use weights download, no bar. The graph cache follows
  // StNet.load's defaults (STNET_GRAPH_CACHE=1 keeps the built graph for explicit --weights too).
  const load: StNetLoadOptions = {
    ...(run.weights !== undefined ? { weights: run.weights } : {}),
    ...(run.weightsUrl !== undefined ? { weightsUrl: run.weightsUrl } : {}),
    ...(run.threads !== undefined ? { threads: run.threads } : {}),
    useGpu: run.useGpu,
    onDownloadStart: (url, total) => ui.log(`no weights given and none cached: downloading ${url}${total !== undefined ? ` (${(total / 1048576).toFixed(1)} MB)` : ''}`),
  };
  // The model loader owns its options: --precision is handed over as given and checked there.
  if (v.precision !== undefined) Object.assign(load, { precision: v.precision });

  // SIGTERM/SIGINT: stop taking jobs, finish the current one, exit 0. A second signal: the default action
  // (the process ends at once; its job goes back to the queue when the lock expires).
  const stopping = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping.signal.aborted) {
      removeHandlers();
      process.kill(process.pid, sig);
      return;
    }
    ui.log(`${sig}: taking no new videos; finishing the current one (send ${sig} again to stop at once)`, true);
    stopping.abort();
  };
  const removeHandlers = (): void => {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const { runWorker } = await import('../queue/index.js');
    let lastConnectionLog = 0;
    const worker = await runWorker({
      redis: v.redis,
      ...(v.queue !== undefined ? { queue: v.queue } : {}),
      ...pick(v.ints, WORKER_INT_KEYS),
      load: { ...load, signal: stopping.signal },
      onEvent: (e) => {
        switch (e.type) {
          case 'ready':
            ui.log(`worker ${process.pid} ready: queue ${e.queue}, ${e.threads} thread${e.threads === 1 ? '' : 's'}, concurrency ${e.concurrency}`);
            break;
          case 'start':
            ui.log(`start ${e.path}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`);
            break;
          case 'done':
            ui.log(e.ok ? `done ${e.path} (${e.ms} ms)` : `failed ${e.path}: ${e.code ?? 'error'}`);
            break;
          case 'retry':
            ui.log(`will retry ${e.path}: ${e.message}`, true);
            break;
          case 'warning':
            ui.log(`warning: ${e.message}`, true);
            break;
          case 'connection': {
            // ioredis reports every reconnect attempt; one line per 5 s is enough.
            const now = Date.now();
            if (now - lastConnectionLog > 5000) ui.log(`Redis connection: ${e.message} (retrying)`, true);
            lastConnectionLog = now;
            break;
          }
        }
      },
    });
    if (!stopping.signal.aborted) await new Promise((resolve) => stopping.signal.addEventListener('abort', resolve, { once: true }));
    await worker.close();
    const s = worker.stats();
    ui.log(`worker ${process.pid} stopped: ${s.processed} video${s.processed === 1 ? '' : 's'} (${s.failed} failed), event loop max delay ${s.maxEventLoopDelayMs} ms`);
    return EXIT_OK;
  } finally {
    removeHandlers();
  }
}

function pick<K extends string>(from: Readonly<Partial<Record<K, number>>>, keys: readonly K[]): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}

// ---------------------------------------------------------------- submit

async function submitCommand(raw: Record<string, unknown>, ui: Ui, deps: QueueCliDeps, signal: AbortSignal): Promise<number> {
  const { io } = deps;
  const v = toQueueValues(raw);
  const run = toRunValues({ input_path: raw.input_path, input_file: raw.input_file, format: raw.format, top_k: raw.top_k, seg_num: raw.seg_num, short_size: raw.short_size, target_size: raw.target_size, decode_timeout: raw.decode_timeout, embedding: raw.embedding });
  const classifyOptions = toClassifyOptions(run);
  // Checked here with the flags' names in the messages; src/queue checks the same again for library users.
  validateClassifyOptions(classifyOptions, flagOf);
  checkQueueFlags(v);
  if (v.keep !== undefined) parseKeep(v.keep, '--keep');
  if (run.inputPaths.length === 0 && run.inputFile === undefined) {
    throw new StnetError('E_INVALID_OPTION', 'no videos given: pass --input_path <video> (repeatable) or --input_file <list.txt>');
  }
  if (run.format !== undefined && !v.wait) throw new StnetError('E_INVALID_OPTION', '--format applies to --wait only (without it, submit prints the batch id)');
  const paths = [...run.inputPaths];
  if (run.inputFile !== undefined) paths.push(...(await deps.readList(run.inputFile, io.cwd)));
  const queue = await import('../queue/index.js');
  const submitOpts = {
    redis: v.redis,
    ...(v.queue !== undefined ? { queue: v.queue } : {}),
    batch: v.batch ?? '',
    paths,
    cwd: io.cwd,
    options: classifyOptions,
    ...pick(v.ints, SUBMIT_INT_KEYS),
    ...(v.keep !== undefined ? { keep: v.keep } : {}),
  };
  queue.checkSubmitOptions(submitOpts);
  const submitted = await queue.submitBatch(submitOpts);
  const again = submitted.added < submitted.total ? ` (${submitted.total - submitted.added} already in the batch)` : '';
  if (!v.wait) {
    ui.log(`batch ${submitted.batch}: ${submitted.added} video${submitted.added === 1 ? '' : 's'} queued${again}`);
    io.stdout.write(`${submitted.batch}\n`);
    return EXIT_OK;
  }
  ui.log(`batch ${submitted.batch}: ${submitted.added} queued${again}; waiting (Ctrl-C stops waiting, the jobs go on)`);
  const format: Format = run.format ?? (io.stdout.isTTY === true ? 'text' : 'json');
  const bar = ui.batch(submitted.total);
  const { status, results } = await queue.waitForBatch({
    redis: v.redis,
    ...(v.queue !== undefined ? { queue: v.queue } : {}),
    batch: submitted.batch,
    signal,
    onProgress: (s) => bar.tick(s.done + s.failed, `${s.done} done, ${s.failed} failed`),
  });
  ui.stop();
  printResults(results, format, io);
  if (status.failed > 0) {
    ui.log(`${status.failed} of ${status.total} video${status.total === 1 ? '' : 's'} failed (see the output)`, true);
    return EXIT_SOME_FAILED;
  }
  return EXIT_OK;
}

/** --redis, --queue and --batch, named as typed. */
function checkQueueFlags(v: QueueValues): QueueValues {
  checkRedisUrl(v.redis, '--redis');
  if (v.queue !== undefined) checkQueueName(v.queue, '--queue');
  if (v.batch !== undefined) checkBatchId(v.batch, '--batch');
  return v;
}

function printResults(results: readonly VideoResult[], format: Format, io: CliIo): void {
  // The `stnet run` formatter, so the output is byte-for-byte what run prints for the same results.
  const fmt = formatter(format, { color: colorEnabled(io.stdout) });
  io.stdout.write(fmt.header + results.map((r) => fmt.item(r)).join('') + fmt.footer(results));
}

// ---------------------------------------------------------------- status, results

async function statusCommand(raw: Record<string, unknown>, io: CliIo): Promise<number> {
  const v = checkQueueFlags(toQueueValues(raw));
  const format: StatusFormat = checkFormat(raw.format, STATUS_FORMATS) ?? 'text';
  const { batchStatus } = await import('../queue/index.js');
  const query = { redis: v.redis, ...(v.queue !== undefined ? { queue: v.queue } : {}), batch: v.batch ?? '' };
  const s = await batchStatus(query);
  if (format === 'json') {
    io.stdout.write(`${JSON.stringify({ batch: s.batch, total: s.total, done: s.done, failed: s.failed, waiting: s.waiting, active: s.active })}\n`);
  } else {
    io.stdout.write(`batch ${s.batch}: ${s.total} videos, ${s.done} done, ${s.failed} failed, ${s.active} active, ${s.waiting} waiting\n`);
  }
  return EXIT_OK;
}

async function resultsCommand(raw: Record<string, unknown>, io: CliIo): Promise<number> {
  const v = checkQueueFlags(toQueueValues(raw));
  const format: Format = checkFormat(raw.format, FORMATS) ?? (io.stdout.isTTY === true ? 'text' : 'json');
  const { batchResults } = await import('../queue/index.js');
  const results = await batchResults({ redis: v.redis, ...(v.queue !== undefined ? { queue: v.queue } : {}), batch: v.batch ?? '' });
  printResults(results, format, io);
  return results.some((r) => !r.ok) ? EXIT_SOME_FAILED : EXIT_OK;
}
