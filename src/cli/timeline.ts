// `stnet timeline`: what happens when in a long video or a live stream, window by window (docs/timeline.md).
// Flags come from the table in options.ts; the timeline itself is model.timeline().
import { Command, Option } from 'commander';
import { ERROR_CODES, StnetError, isStnetError } from '../errors.js';
import type { StNet } from '../stnet.js';
import { TIMELINE_FORMATS, timelineFormatter, type TimelineFormat } from '../timeline/format.js';
import { resolveTimelineOptions } from '../timeline/runner.js';
import type { TimelineOptions, WindowResult } from '../timeline/types.js';
import { EMBEDDING_FLAG, INT_OPTIONS, TIMELINE_INT_OPTIONS, TIMELINE_SECONDS_OPTIONS, timelineFlagOf, toClassifyOptions, toTimelineValues, type RunValues, type TimelineValues } from './options.js';
import { colorEnabled, type Ui } from './progress.js';
import { EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, type CliIo } from './action.js';


/** What a command file needs from program.ts (one path for loading the model, reading lists, handling errors). */
export interface CliCommandContext {
  readonly io: CliIo;
  readonly action: (fn: (raw: Record<string, unknown>, ui: Ui, signal: AbortSignal) => Promise<number>, cancellable?: boolean) => (raw: Record<string, unknown>, cmd: Command) => Promise<void>;
  readonly loadModel: (values: Pick<RunValues, 'weights' | 'weightsUrl' | 'threads' | 'useGpu'>, ui: Ui, signal: AbortSignal) => Promise<StNet>;
  readonly readList: (file: string, cwd: string) => Promise<string[]>;
  readonly exitCodeHelp: string;
}

/** The shared input, model and window flags of timeline and annotate. */
export function addTimelineFlags(cmd: Command, what: string): Command {
  cmd
    .addOption(new Option('--input_path <video...>', `${what}: a file, - (stdin) or an http(s)/rtsp/rtmp/udp URL; repeatable`))
    .addOption(new Option('--input_file <list>', 'text file with one input per line (blank lines and # comments skipped)'));
  for (const o of TIMELINE_SECONDS_OPTIONS) cmd.addOption(new Option(`${o.flag} ${o.arg}`, o.description));
  for (const o of TIMELINE_INT_OPTIONS) cmd.addOption(new Option(`${o.flag} ${o.arg}`, `${o.description}; ${o.limits[0]}..${o.limits[1]}`));
  for (const o of INT_OPTIONS) {
    if (o.key === 'decodeTimeoutMs') continue; // a stream has --read_timeout instead
    cmd.addOption(new Option(`${o.flag} ${o.arg}`, `${o.description}; ${o.limits[0]}..${o.limits[1]}`));
  }
  return cmd
    .addOption(new Option('--weights <path>', 'weights (default: STNET_WEIGHTS, else the cache, else download)'))
    .addOption(new Option('--weights_url <url>', 'download URL when the weights are not cached'))
    .addOption(new Option('--use_gpu', "run on onnxruntime's CUDA provider"))
    .addOption(new Option('--quiet', 'no progress or info on stderr'));
}

/** Flags -> library options (checked by resolveTimelineOptions, with the flags' names in messages). */
export function timelineOptionsOf(v: TimelineValues): TimelineOptions {
  const c = toClassifyOptions(v.run);
  const { decodeTimeoutMs: _unused, ...classify } = c;
  return {
    ...classify,
    ...(v.windowSec !== undefined ? { windowSec: v.windowSec } : {}),
    ...(v.strideSec !== undefined ? { strideSec: v.strideSec } : {}),
    ...(v.windowFrames !== undefined ? { windowFrames: v.windowFrames } : {}),
    ...(v.strideFrames !== undefined ? { strideFrames: v.strideFrames } : {}),
    ...(v.readTimeoutMs !== undefined ? { readTimeoutMs: v.readTimeoutMs } : {}),
    ...(v.connectTimeoutMs !== undefined ? { connectTimeoutMs: v.connectTimeoutMs } : {}),
  };
}

/** The inputs of --input_path and --input_file; `-` at most once (there is one stdin). */
export async function inputsOf(v: RunValues, ctx: CliCommandContext): Promise<string[]> {
  if (v.inputPaths.length === 0 && v.inputFile === undefined) {
    throw new StnetError('E_INVALID_OPTION', 'no input given: pass --input_path <video|-|url> (repeatable) or --input_file <list.txt>');
  }
  const inputs = [...v.inputPaths];
  if (v.inputFile !== undefined) inputs.push(...(await ctx.readList(v.inputFile, ctx.io.cwd)));
  inputs.forEach((p, i) => {
    if (p === '') throw new StnetError('E_INVALID_OPTION', `Expected a non-empty --input_path but received "" (input ${i + 1})`);
  });
  if (inputs.filter((p) => p === '-').length > 1) throw new StnetError('E_INVALID_OPTION', 'Expected "-" (stdin) at most once among the inputs but received it more than once');
  // Checked again when the stream opens; here it fails before the model loads.
  if (inputs.includes('-') && process.stdin.isTTY === true) {
    throw new StnetError('E_INVALID_OPTION', 'Expected a video piped into stdin for --input_path - but stdin is a terminal; pipe one in (cat video.ts | stnet timeline --input_path -) or pass a file or URL');
  }
  return inputs;
}

export function registerTimeline(program: Command, ctx: CliCommandContext): void {
  const cmd = program.command('timeline').description('what happens when: top labels per window of a long video or a live stream');
  addTimelineFlags(cmd, 'video')
    .addOption(new Option(EMBEDDING_FLAG.flag, EMBEDDING_FLAG.description))
    .addOption(new Option('--format <format>', `output format: ${TIMELINE_FORMATS.join(', ')} (default: text when stdout is a terminal, else json)`))
    .addHelpText(
      'after',
      `
Windows: frames [k*stride, k*stride + window) for every window that fits, plus one last window ending at the
last frame, so the whole video is covered; a video shorter than the window is one window. Each window is
classified exactly as a video made of its frames would be. Windows print as soon as their last frame is
decoded (text, jsonl, csv, vtt); json prints one array at the end. Ctrl-C prints the windows so far (exit 130).

Examples:
  $ stnet timeline --input_path match.mp4
  $ stnet timeline --input_path match.mp4 --window 4 --stride 2 --format vtt > match.vtt
  $ stnet timeline --input_path clip.mp4 --window_frames 75 --stride_frames 25 --format jsonl
  $ ffmpeg -i rtsp://camera/stream -c copy -f mpegts - | stnet timeline --input_path - --format jsonl
  $ stnet timeline --input_path http://127.0.0.1:8080/live.ts --read_timeout 10000
${ctx.exitCodeHelp}`,
    )
    .action(ctx.action((raw, ui, signal) => timelineCommand(raw, ui, ctx, signal)));
}

async function timelineCommand(raw: Record<string, unknown>, ui: Ui, ctx: CliCommandContext, signal: AbortSignal): Promise<number> {
  // Everything the user typed is checked before weights, ffmpeg or onnxruntime are touched.
  const values = toTimelineValues(raw);
  const opts = timelineOptionsOf(values);
  resolveTimelineOptions(opts, timelineFlagOf);
  if (values.format !== undefined && !(TIMELINE_FORMATS as readonly string[]).includes(values.format)) {
    throw new StnetError('E_INVALID_OPTION', `Expected one of ${TIMELINE_FORMATS.join(', ')} for --format but received ${JSON.stringify(values.format)}`);
  }
  const inputs = await inputsOf(values.run, ctx);
  const io = ctx.io;
  const format = (values.format as TimelineFormat | undefined) ?? (io.stdout.isTTY === true ? 'text' : 'json');
  const model = await ctx.loadModel(values.run, ui, signal);
  const fmt = timelineFormatter(format, { color: colorEnabled(io.stdout), labels: Math.min(3, values.run.topK ?? 3) });
  const all: WindowResult[] = [];
  let failed = 0;
  try {
    ui.out(fmt.header);
    const bar = ui.batch(inputs);
    for (const [i, input] of inputs.entries()) {
      const windows: WindowResult[] = [];
      ui.out(fmt.begin(input));
      try {
        for await (const w of model.timeline(input, { ...opts, signal })) {
          windows.push(w);
          all.push(w);
          ui.out(fmt.window(w));
        }
      } catch (err) {
        ui.out(fmt.end(input, windows));
        if (isStnetError(err) && err.code === 'E_CANCELLED') {
          ui.out(fmt.footer(all));
          ui.log(`interrupted: ${all.length} window${all.length === 1 ? '' : 's'} printed`, true);
          return EXIT_INTERRUPTED;
        }
        // A bad input (missing file, no video, stalled stream) is reported and the others go on; the windows
        // it gave before failing are kept. Anything else (ffmpeg missing, the model failing) stops the run.
        if (!isStnetError(err) || ERROR_CODES[err.code].kind !== 'input') {
          ui.out(fmt.footer(all));
          throw err;
        }
        failed++;
        ui.log(`${input}: error ${err.code}: ${err.message}${windows.length > 0 ? ` (after ${windows.length} window${windows.length === 1 ? '' : 's'})` : ''}`, true);
        bar.tick(i + 1);
        continue;
      }
      ui.out(fmt.end(input, windows));
      bar.tick(i + 1);
    }
    ui.stop();
    ui.out(fmt.footer(all));
    if (failed > 0) {
      ui.log(`${failed} of ${inputs.length} input${inputs.length === 1 ? '' : 's'} failed`, true);
      return EXIT_SOME_FAILED;
    }
    return EXIT_OK;
  } finally {
    await model.close();
  }
}
