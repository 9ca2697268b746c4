// `stnet quantize`: the int8 graph written to a file, with its drift against fp32 printed. The fp32 graph comes
// from the one loading path (src/model/load.ts), the quantization and drift from src/model/quantize.ts, the file
// writing from src/model/export.ts; this file only translates flags and prints.
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { Option, type Command } from 'commander';
import { StnetError, invalidOption } from '../errors.js';
import { checkModelOutPath, writeModelFile } from '../model/export.js';
import { checkModelSourceOptions, loadModelBytes, readModelBytes } from '../model/load.js';
import { CALIBRATION_CLIP, CALIBRATION_METHODS, DEFAULT_CALIBRATION_METHOD, DEFAULT_INT8_GROUPS, LAYER_GROUPS, quantizeStnet, type CalibrationMethod, type LayerGroup, type QuantizeStnetResult } from '../model/quantize.js';
import { EXIT_OK, downloadHooks, type CommandContext } from './action.js';
import { THREADS_LIMITS, parseIntFlag, stringFlag } from './options.js';
import type { Ui } from './progress.js';

/** What the command needs beyond the shared context: program.ts's --input_file list reader and the exit-code help. */
export interface QuantizeContext extends CommandContext {
  readonly readList: (file: string, cwd: string) => Promise<string[]>;
  readonly exitCodeHelp: string;
}

export const DEFAULT_INT8_OUT = 'stnet-int8.onnx';

const SEG_SPEC = { key: 'segNum', flag: '--seg_num', arg: '<n>', description: '', limits: [1, 1000] } as const;
const SIZE_SPEC = { key: 'targetSize', flag: '--size', arg: '<px>', description: '', limits: [32, 1024] } as const;
const THREADS_SPEC = { key: 'threads', flag: '--threads', arg: '<n>', description: '', limits: THREADS_LIMITS } as const;

export interface QuantizeValues {
  weights: string | undefined;
  weightsUrl: string | undefined;
  calibration: string | undefined;
  evaluation: string | undefined;
  out: string;
  method: CalibrationMethod;
  groups: readonly LayerGroup[];
  threads: number | undefined;
  segNum: number | undefined;
  size: number | undefined;
}

/** Raw commander flags -> typed values; every check before any file is read. */
export function toQuantizeValues(raw: Record<string, unknown>, cwd: string): QuantizeValues {
  const method = (raw.method as string | undefined) ?? DEFAULT_CALIBRATION_METHOD;
  if (!(CALIBRATION_METHODS as readonly string[]).includes(method)) throw invalidOption('--method', CALIBRATION_METHODS.join(' or '), method);
  let groups: readonly LayerGroup[] = DEFAULT_INT8_GROUPS;
  if (raw.int8_layers !== undefined) {
    const list = String(raw.int8_layers).split(',').map((s) => s.trim());
    const badOne = list.find((g) => !(LAYER_GROUPS as readonly string[]).includes(g));
    if (badOne !== undefined || list.length === 0) throw invalidOption('--int8_layers', `a comma-separated list of ${LAYER_GROUPS.join(', ')}`, String(raw.int8_layers));
    groups = list as LayerGroup[];
  }
  const int = (spec: Parameters<typeof parseIntFlag>[0], v: unknown): number | undefined => (v === undefined ? undefined : parseIntFlag(spec, String(v)));
  const str = (flag: string): string | undefined => stringFlag(raw, flag);
  return {
    weights: str('weights'),
    weightsUrl: str('weights_url'),
    calibration: str('calibration'),
    evaluation: str('evaluation'),
    out: resolve(cwd, str('out') ?? DEFAULT_INT8_OUT),
    method: method as CalibrationMethod,
    groups,
    threads: int(THREADS_SPEC, raw.threads),
    segNum: int(SEG_SPEC, raw.seg_num),
    size: int(SIZE_SPEC, raw.size),
  };
}

/** The drift report, one `key value` line each (stdout). */
export function formatReport(r: QuantizeStnetResult, out: string): string {
  const d = r.drift;
  const on = r.heldOut ? `${d.clips} evaluation clip${d.clips === 1 ? '' : 's'}` : `the ${d.clips} calibration clip${d.clips === 1 ? '' : 's'} (give --evaluation for held-out clips)`;
  return [
    `model          ${out} (${(r.model.length / 1048576).toFixed(1)} MiB)`,
    `int8 layers    ${r.groups.join(', ')} (the rest fp32)`,
    `calibration    ${r.method} over ${r.calibrationClips} clip${r.calibrationClips === 1 ? '' : 's'}`,
    `drift on       ${on}`,
    `max |dp|       ${d.maxAbsDp.toExponential(3)}`,
    `mean |dp|      ${d.meanAbsDp.toExponential(3)}`,
    `top-1 agree    ${d.top1Agree}/${d.clips}`,
    `top-5 overlap  min ${d.top5OverlapMin}/5, mean ${d.top5OverlapMean.toFixed(2)}/5`,
    '',
  ].join('\n');
}

async function quantizeCommand(raw: Record<string, unknown>, ui: Ui, ctx: QuantizeContext, signal: AbortSignal): Promise<number> {
  const v = toQuantizeValues(raw, ctx.io.cwd);
  // Lists and the output folder are checked before the weights are read.
  const list = async (flag: string, file: string): Promise<string[]> => {
    try {
      return await ctx.readList(file, ctx.io.cwd);
    } catch (err) {
      // The list reader is run's; its messages name --input_file.
      if (err instanceof StnetError) throw new StnetError(err.code, err.message.replace('--input_file', flag), { cause: err, ...(err.path !== undefined ? { path: err.path } : {}) });
      throw err;
    }
  };
  const calibration = v.calibration !== undefined ? await list('--calibration', v.calibration) : undefined;
  const evaluation = v.evaluation !== undefined ? await list('--evaluation', v.evaluation) : undefined;
  const out = await checkModelOutPath(v.out);
  const hooks = downloadHooks(ui);
  // The fp32 graph from the one loading path, with the library's graph-cache default (on for cached or downloaded
  // weights; for explicit --weights only with STNET_GRAPH_CACHE=1): quantize's own output is its --out file.
  const fp32 = await loadModelBytes(
    checkModelSourceOptions({
      ...(v.weights !== undefined ? { weights: v.weights } : {}),
      ...(v.weightsUrl !== undefined ? { weightsUrl: v.weightsUrl } : {}),
      precision: 'fp32',
      signal,
      onDownloadStart: hooks.onDownloadStart,
      onDownloadProgress: hooks.onDownloadProgress,
    }),
  );
  if (fp32.weightsSource === 'download') ui.log(`weights saved to ${fp32.weightsPath ?? ''}`);
  ui.log(`calibrating on ${calibration?.length ?? 1} clip${(calibration?.length ?? 1) === 1 ? '' : 's'} (${v.method}), then measuring the drift`);
  const clip = { ...(v.segNum !== undefined ? { segNum: v.segNum } : {}), ...(v.size !== undefined ? { shortSize: v.size, targetSize: v.size } : {}) };
  const result = await quantizeStnet(await readModelBytes(fp32), {
    threads: v.threads ?? availableParallelism(),
    method: v.method,
    groups: v.groups,
    ...(calibration !== undefined ? { calibration } : {}),
    ...(evaluation !== undefined ? { evaluation } : {}),
    clip,
    evaluationClip: clip,
    onWarning: (m) => ui.log(`warning: ${m}`, true),
    signal,
  });
  await writeModelFile(result.model, out);
  ctx.io.stdout.write(formatReport(result, out));
  return EXIT_OK;
}

/** Registers `stnet quantize` on the program. */
export function registerQuantize(program: Command, ctx: QuantizeContext): void {
  program
    .command('quantize')
    .description('build the int8 graph (QDQ, calibrated on videos), print its drift against fp32, write it (run it with stnet run --model)')
    .addOption(new Option('--weights <path>', 'weights (default: STNET_WEIGHTS, else the cache, else download)'))
    .addOption(new Option('--weights_url <url>', 'download URL when the weights are not cached'))
    .addOption(new Option('--calibration <list>', 'text file with one calibration video per line (default: the bundled examples/archery.avi)'))
    .addOption(new Option('--evaluation <list>', 'text file with held-out videos to measure the drift on (default: the calibration clips)'))
    .addOption(new Option('--out <file>', `output .onnx file (default ${DEFAULT_INT8_OUT})`))
    .addOption(new Option('--method <m>', `activation ranges: ${CALIBRATION_METHODS.join(' or ')} (default ${DEFAULT_CALIBRATION_METHOD})`))
    .addOption(new Option('--int8_layers <groups>', `layer groups in int8, comma-separated from ${LAYER_GROUPS.join(', ')} (default ${DEFAULT_INT8_GROUPS.join(',')})`))
    .addOption(new Option('--seg_num <n>', `segments per clip (default: ${CALIBRATION_CLIP.segNum} for calibration, 25 for evaluation)`))
    .addOption(new Option('--size <px>', `short side and crop of the clips (default ${CALIBRATION_CLIP.targetSize})`))
    .addOption(new Option('--threads <n>', 'onnxruntime intra-op threads (default: one per core)'))
    .addOption(new Option('--quiet', 'no progress on stderr (warnings still)'))
    .addHelpText(
      'after',
      `\nA calibration or evaluation video that cannot be read is skipped with a warning; none readable is an error.\nThe fp32 graph it starts from is read from the graph cache for cached weights (STNET_GRAPH_CACHE=1: also for --weights).\n\nExamples:\n  $ stnet quantize --weights STNET.pdparams\n  $ stnet quantize --weights STNET.pdparams --calibration calib.txt --evaluation eval.txt --out stnet-int8.onnx\n  $ stnet run --model stnet-int8.onnx --input_path video.mp4\n${ctx.exitCodeHelp}`,
    )
    .action(ctx.action((raw, ui, signal) => quantizeCommand(raw, ui, ctx, signal)));
}
