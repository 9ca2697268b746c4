// `stnet quantize` (and `stnet export-onnx --precision int8`): the int8 graph written to a file, with its drift
// against fp32 printed. The work is in src/quantize.ts; this file only translates flags and prints.
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { StnetError, invalidOption } from '../errors.js';
import { CALIBRATION_CLIP, CALIBRATION_METHODS, DEFAULT_CALIBRATION_METHOD, DEFAULT_INT8_GROUPS, LAYER_GROUPS, quantizeStnet, type CalibrationMethod, type LayerGroup, type QuantizeStnetResult } from '../model/quantize.js';
import { loadWeights } from '../weights/index.js';
import { resolveWeights } from '../weights/resolve.js';
import { THREADS_LIMITS, parseIntFlag } from './options.js';
import type { Ui } from './progress.js';

/** What the command needs from program.ts: stdout, the working folder, and its --input_file list reader. */
export interface QuantizeIo {
  readonly stdout: NodeJS.WriteStream;
  readonly cwd: string;
  readonly readList: (file: string, cwd: string) => Promise<string[]>;
}

/** What program.ts's `action` wrapper hands a command: raw flags, the UI, the Ctrl-C signal -> exit code. */
export type CommandAction = (fn: (raw: Record<string, unknown>, ui: Ui, signal: AbortSignal) => Promise<number>) => (raw: Record<string, unknown>, cmd: Command) => Promise<void>;

export const DEFAULT_INT8_OUT = 'stnet-int8.onnx';

const SEG_SPEC = { key: 'segNum', flag: '--seg_num', arg: '<n>', description: '', limits: [1, 1000] } as const;
const SIZE_SPEC = { key: 'targetSize', flag: '--size', arg: '<px>', description: '', limits: [32, 1024] } as const;
const THREADS_SPEC = { key: 'threads', flag: '--threads', arg: '<n>', description: '', limits: THREADS_LIMITS } as const;

export interface QuantizeValues {
  weights: string | undefined;
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
  const out = (raw.out as string | undefined) ?? DEFAULT_INT8_OUT;
  if (out === '') throw invalidOption('--out', 'a non-empty output path', out);
  return {
    weights: raw.weights as string | undefined,
    calibration: raw.calibration as string | undefined,
    evaluation: raw.evaluation as string | undefined,
    out: resolve(cwd, out),
    method: method as CalibrationMethod,
    groups,
    threads: int(THREADS_SPEC, raw.threads),
    segNum: int(SEG_SPEC, raw.seg_num),
    size: int(SIZE_SPEC, raw.size),
  };
}

/** Writes `bytes` to `out` through a temporary file, so a failure never leaves a truncated model. */
export async function writeModelFile(out: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(out);
  const st = await stat(dir).catch(() => undefined);
  if (st === undefined || !st.isDirectory()) throw new StnetError('E_INVALID_OPTION', `cannot write the model to ${out}: folder ${dir} does not exist; create it or choose another --out path`, { path: out });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new StnetError('E_INVALID_OPTION', `cannot write the model to ${out}: ${(err as Error).message}; choose a writable --out path`, { cause: err, path: out });
  }
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

async function quantizeCommand(raw: Record<string, unknown>, ui: Ui, io: QuantizeIo, signal: AbortSignal): Promise<number> {
  const v = toQuantizeValues(raw, io.cwd);
  // Lists and the output folder are checked before the weights are read.
  const list = async (flag: string, file: string): Promise<string[]> => {
    try {
      return await io.readList(file, io.cwd);
    } catch (err) {
      // The list reader is run's; its messages name --input_file.
      if (err instanceof StnetError) throw new StnetError(err.code, err.message.replace('--input_file', flag), { cause: err, ...(err.path !== undefined ? { path: err.path } : {}) });
      throw err;
    }
  };
  const calibration = v.calibration !== undefined ? await list('--calibration', v.calibration) : undefined;
  const evaluation = v.evaluation !== undefined ? await list('--evaluation', v.evaluation) : undefined;
  const outDir = await stat(dirname(v.out)).catch(() => undefined);
  if (outDir === undefined || !outDir.isDirectory()) throw new StnetError('E_INVALID_OPTION', `cannot write the model to ${v.out}: folder ${dirname(v.out)} does not exist; create it or choose another --out path`, { path: v.out });
  const resolved = await resolveWeights({ ...(v.weights !== undefined ? { weights: v.weights } : {}), ...(typeof raw.weights_url === 'string' ? { weightsUrl: raw.weights_url } : {}), signal });
  const weights = resolved.weights ?? (await loadWeights(resolved.path));
  ui.log(`calibrating on ${calibration?.length ?? 1} clip${(calibration?.length ?? 1) === 1 ? '' : 's'} (${v.method}), then measuring the drift`);
  const clip = { ...(v.segNum !== undefined ? { segNum: v.segNum } : {}), ...(v.size !== undefined ? { shortSize: v.size, targetSize: v.size } : {}) };
  const result = await quantizeStnet(weights, {
    threads: v.threads ?? (await import('node:os')).availableParallelism(),
    method: v.method,
    groups: v.groups,
    ...(calibration !== undefined ? { calibration } : {}),
    ...(evaluation !== undefined ? { evaluation } : {}),
    clip,
    evaluationClip: clip,
    onWarning: (m) => ui.log(`warning: ${m}`, true),
    signal,
  });
  await writeModelFile(v.out, result.model);
  io.stdout.write(formatReport(result, v.out));
  return 0;
}

/** Registers `stnet quantize` on the program. */
export function registerQuantize(program: Command, action: CommandAction, io: QuantizeIo, exitHelp: string): void {
  program
    .command('quantize')
    .description('build the int8 graph (QDQ, calibrated on videos), print its drift against fp32, write it (run it with stnet run --model)')
    .addOption(new Option('--weights <path>', 'weights (default: STNET_WEIGHTS, else the cache, else download)'))
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
      `\nA calibration or evaluation video that cannot be read is skipped with a warning; none readable is an error.\n\nExamples:\n  $ stnet quantize --weights STNET.pdparams\n  $ stnet quantize --weights STNET.pdparams --calibration calib.txt --evaluation eval.txt --out stnet-int8.onnx\n  $ stnet run --model stnet-int8.onnx --input_path video.mp4\n${exitHelp}`,
    )
    .action(action((raw, ui, signal) => quantizeCommand(raw, ui, io, signal)));
}

/** `stnet export-onnx --precision int8`: the same graph as `stnet quantize` with the default calibration. */
export async function exportInt8(raw: Record<string, unknown>, ui: Ui, io: QuantizeIo, signal: AbortSignal): Promise<number> {
  return quantizeCommand({ weights: raw.weights, weights_url: raw.weights_url, out: raw.out, quiet: raw.quiet }, ui, io, signal);
}
