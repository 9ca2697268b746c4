// `stnet annotate`: a copy of a video with the current window's top labels drawn on it (docs/timeline.md).
// Two passes over the file: the timeline (model.timeline), then ffmpeg re-encodes it with the overlay.
import cliProgress from 'cli-progress';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { StnetError } from '../errors.js';
import { checkOutput, findFont, renderAnnotated } from '../timeline/annotate.js';
import { resolveTimelineOptions } from '../timeline/runner.js';
import type { WindowResult } from '../timeline/types.js';
import { windowRanges } from '../timeline/windows.js';
import { streamSource } from '../video/stream.js';
import { findFfmpeg } from '../video/ffmpeg.js';
import { probeVideo } from '../video/probe.js';
import { timelineFlagOf, toTimelineValues } from './options.js';
import { addTimelineFlags, inputsOf, timelineOptionsOf, type CliCommandContext } from './timeline.js';
import type { Ui } from './progress.js';

const DEFAULT_TOP_K = 3;

export function registerAnnotate(program: Command, ctx: CliCommandContext): void {
  const cmd = program.command('annotate').description('write a copy of a video with the top labels of the current window drawn on it');
  addTimelineFlags(cmd, 'video file')
    .requiredOption('--out <file>', 'output .mp4 (H.264, same frames and duration, audio copied); its folder must exist')
    .addOption(new Option('--overwrite', 'replace --out if it exists'))
    .addHelpText(
      'after',
      `
Draws the top labels (default ${DEFAULT_TOP_K}, --top_k) and their probabilities as bars in the top-left corner; each
window's labels show from its start until the next window starts. Needs a font (fonts-dejavu-core, or STNET_FONT).

Examples:
  $ stnet annotate --input_path match.mp4 --out match.labels.mp4
  $ stnet annotate --input_path match.mp4 --out match.labels.mp4 --window 4 --stride 2 --top_k 5 --overwrite
${ctx.exitCodeHelp}`,
    )
    .action(ctx.action((raw, ui, signal) => annotateCommand(raw, ui, ctx, signal)));
}

async function annotateCommand(raw: Record<string, unknown>, ui: Ui, ctx: CliCommandContext, signal: AbortSignal): Promise<number> {
  // Everything is checked before the model loads: flags, the input, the output's folder, a font.
  const values = toTimelineValues({ ...raw, out: undefined, overwrite: undefined });
  const opts = { ...timelineOptionsOf(values), topK: values.run.topK ?? DEFAULT_TOP_K };
  resolveTimelineOptions(opts, timelineFlagOf);
  const inputs = await inputsOf(values.run, ctx);
  if (inputs.length !== 1) throw new StnetError('E_INVALID_OPTION', `Expected one --input_path for annotate but received ${inputs.length}`);
  const source = streamSource(inputs[0]!, ctx.io.cwd);
  if (source.kind !== 'file') throw new StnetError('E_INVALID_OPTION', `Expected a video file for annotate's --input_path (it is read twice) but received ${inputs[0]}; save the stream to a file first`);
  const input = source.path;
  const overwrite = raw.overwrite === true;
  const out = await checkOutput(resolve(ctx.io.cwd, String(raw.out)), overwrite);
  if (out === input) throw new StnetError('E_INVALID_OPTION', `--out ${out} is the input itself; choose another path`);
  findFont();
  const tools = await findFfmpeg();
  const probe = await probeVideo(tools, input, { deadline: Date.now() + 120_000, timeoutMs: 120_000, signal, path: input });
  const frameEstimate = probe.packets > 0 ? probe.packets : Number.isFinite(probe.opencvFrameCount) ? probe.opencvFrameCount : 0;

  const model = await ctx.loadModel(values.run, ui, signal);
  const bar = progressBar(ui, raw.quiet === true, ctx.io.stderr);
  const windows: WindowResult[] = [];
  let size = { width: probe.width, height: probe.height };
  try {
    for await (const w of model.timeline(input, {
      ...opts,
      signal,
      onInfo: (info) => {
        size = { width: info.width, height: info.height };
        bar.start('windows', frameEstimate > 0 ? windowRanges(frameEstimate, { length: info.windowFrames, stride: info.strideFrames }).length : 0);
      },
    })) {
      windows.push(w);
      bar.update(windows.length);
    }
  } finally {
    await model.close();
  }
  bar.start('frames encoded', windows.at(-1)?.endFrame ?? frameEstimate);
  await renderAnnotated(input, out, { windows, ...size, topK: opts.topK, overwrite, signal, onProgress: (n) => bar.update(n) });
  bar.stop();
  ui.log(`wrote ${out} (${windows.length} window${windows.length === 1 ? '' : 's'})`);
  ctx.io.stdout.write(`${out}\n`);
  return 0;
}

interface StageBar {
  start(stage: string, total: number): void;
  update(value: number): void;
  stop(): void;
}

/** One bar on stderr for both passes (only on a terminal, not with --quiet). */
function progressBar(ui: Ui, quiet: boolean, stderr: NodeJS.WriteStream): StageBar {
  if (quiet || stderr.isTTY !== true) return { start: () => undefined, update: () => undefined, stop: () => undefined };
  ui.stop();
  let bar: cliProgress.SingleBar | undefined;
  return {
    start(stage, total) {
      bar?.stop();
      bar = new cliProgress.SingleBar({ format: `stnet annotate {bar} {value}/{total} ${stage} | ETA {eta_formatted}`, stream: stderr, hideCursor: false, barsize: 24, fps: 5, clearOnComplete: true }, cliProgress.Presets.shades_classic);
      bar.start(Math.max(1, total), 0);
    },
    update(value) {
      bar?.update(value);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
