// `stnet run`: classify videos, results on stdout in the chosen format.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { validateClassifyOptions, validatePaths, type VideoResult } from '../classify.js';
import { StnetError } from '../errors.js';
import { classifyWhileLoading, loadStnetModels, type StNet } from '../stnet.js';
import { EXIT_CODE_HELP, EXIT_OK, EXIT_SOME_FAILED, downloadHooks, type CliIo, type CommandContext } from './action.js';
import { formatter } from './format.js';
import { EMBEDDING_FLAG, FORMATS, INT_OPTIONS, flagOf, toClassifyOptions, toRunValues, type Format, type RunValues } from './options.js';
import { colorEnabled, type Ui } from './progress.js';

export function registerRun(program: Command, ctx: CommandContext): void {
  const run = program
    .command('run')
    .description('classify videos (the hub\'s "hub run stnet_kinetics400")')
    .addOption(new Option('--input_path <video...>', 'video to classify; repeat it or list several'))
    .addOption(
      new Option(
        '--input_file <list>',
        'text file with one video path per line; blank lines and lines starting with # are skipped; relative paths are resolved against the current directory (as hub does)',
      ),
    )
    .addOption(new Option('--format <format>', `output format: ${FORMATS.join(', ')} (default: text when stdout is a terminal, else json)`));
  for (const o of INT_OPTIONS) run.addOption(new Option(`${o.flag} ${o.arg}`, `${o.description}; ${o.limits[0]}..${o.limits[1]}`));
  run
    .addOption(new Option('--weights <path>', 'weights: .pdparams (pickle or LoDTensor stream), parameter or hub module folder, .tar/.tar.gz (default: STNET_WEIGHTS, else the cache, else download)'))
    .addOption(new Option('--weights_url <url>', 'download the weights from this URL instead of the official ones (default: STNET_WEIGHTS_URL)'))
    .addOption(new Option('--use_gpu', "run on onnxruntime's CUDA provider (needs onnxruntime-node installed with CUDA)"))
    .addOption(new Option('--precision <p>', 'fp32 (default) or int8 (quantized graph, CPU only, built once and cached; see docs/model.md)'))
    .addOption(new Option('--model <file>', 'run this graph (from stnet export-onnx or stnet quantize) instead of building one from weights'))
    .addOption(new Option('--quiet', 'no progress or info on stderr (errors and warnings still)'))
    .addOption(new Option(EMBEDDING_FLAG.flag, EMBEDDING_FLAG.description))
    .addHelpText(
      'after',
      `
Output: results on stdout (json: one array in input order; jsonl: one object per video as it finishes;
csv: one row per prediction; text: a table). Progress and messages on stderr.
A video that cannot be classified is reported in the output and the batch goes on (exit code 1).

Examples:
  $ stnet run --input_path archery.mp4
  $ stnet run --input_path a.mp4 --input_path b.avi --top_k 3 --format json
  $ stnet run --input_file list.txt --format csv > results.csv
  $ stnet run --input_path a.mp4 --seg_num 7 --short_size 112 --target_size 112   # faster, less accurate
  $ STNET_WEIGHTS=./STNET.pdparams stnet run --input_path a.mp4
${EXIT_CODE_HELP}`,
    )
    .action(ctx.action((raw, ui, signal) => runCommand(raw, ui, ctx.io, signal)));
}

async function runCommand(raw: Record<string, unknown>, ui: Ui, io: CliIo, signal: AbortSignal): Promise<number> {
  // Everything the user typed is checked before weights, ffmpeg or onnxruntime are touched.
  const values = toRunValues(raw);
  const classifyOpts = validateClassifyOptions(toClassifyOptions(values), flagOf);
  if (values.inputPaths.length === 0 && values.inputFile === undefined) {
    throw new StnetError('E_INVALID_OPTION', 'no videos given: pass --input_path <video> (repeatable) or --input_file <list.txt>');
  }
  const paths = [...values.inputPaths];
  if (values.inputFile !== undefined) paths.push(...(await readList(values.inputFile, io.cwd)));
  validatePaths(paths, '--input_path');
  const format: Format = values.format ?? (io.stdout.isTTY === true ? 'text' : 'json');

  const fmt = formatter(format, { color: colorEnabled(io.stdout) });
  let bar: ReturnType<Ui['batch']> | undefined;
  // The first video is decoded while the model loads (StNet's classifyWhileLoading). The output header and the
  // batch bar wait for the model: a failed load prints nothing on stdout, and a download shows its own bar first.
  const loading = loadCliModel(values, ui, signal, io.cwd).then((m) => {
    ui.out(fmt.header);
    bar = ui.batch(paths);
    return m;
  });
  try {
    // Mean stage times of the videos classified so far, for the bar (decode overlaps the previous video's inference).
    const sum = { decodeMs: 0, inferMs: 0, n: 0 };
    const results: VideoResult[] = await classifyWhileLoading(loading, paths, {
      ...classifyOpts,
      signal,
      onProgress: ({ done, result }) => {
        ui.out(fmt.item(result));
        if (result.ok) {
          sum.decodeMs += result.timing.decodeMs;
          sum.inferMs += result.timing.inferMs;
          sum.n++;
        }
        bar?.tick(done, undefined, sum.n === 0 ? undefined : { decodeMs: sum.decodeMs / sum.n, inferMs: sum.inferMs / sum.n });
      },
    });
    ui.stop();
    ui.out(fmt.footer(results));
    const failed = results.filter((r) => !r.ok).length;
    if (failed > 0) {
      ui.log(`${failed} of ${results.length} video${results.length === 1 ? '' : 's'} failed (see the output)`, true);
      return EXIT_SOME_FAILED;
    }
    return EXIT_OK;
  } finally {
    // A load that failed has nothing to close (its error is the one classifyWhileLoading threw).
    await (await loading.catch(() => undefined))?.close();
  }
}

/** The model of a CLI command (run, timeline, annotate): --weights / --weights_url / --threads / --use_gpu, a download shown. */
export async function loadCliModel(values: Pick<RunValues, 'weights' | 'weightsUrl' | 'threads' | 'useGpu'> & Partial<Pick<RunValues, 'precision' | 'model'>>, ui: Ui, signal: AbortSignal, cwd = process.cwd()): Promise<StNet> {
  // StNet.load's path resolves (and on first use downloads) the weights itself, so a download is parsed only once.
  const hooks = downloadHooks(ui);
  // The CLI is started again and again with the same weights: it keeps the built graph for explicit weights too
  // (the cache key covers the file's identity; STNET_GRAPH_CACHE=0 turns it off).
  const [model] = await loadStnetModels(
    {
      ...(values.weights !== undefined ? { weights: values.weights } : {}),
      ...(values.weightsUrl !== undefined ? { weightsUrl: values.weightsUrl } : {}),
      ...(values.threads !== undefined ? { threads: values.threads } : {}),
      ...(values.precision !== undefined ? { precision: values.precision } : {}),
      ...(values.model !== undefined ? { model: resolve(cwd, values.model) } : {}),
      useGpu: values.useGpu,
      signal,
      onDownloadStart: hooks.onDownloadStart,
      onDownloadProgress: hooks.onDownloadProgress,
    },
    1,
    {},
    true,
  );
  ui.stop();
  if (hooks.downloaded()) ui.log(`weights saved to ${model!.weightsPath ?? ''}`);
  return model!;
}

/** The --input_file list: one path per line, blank lines and # comments skipped, relative to `cwd` (as hub does). */
export async function readList(file: string, cwd: string): Promise<string[]> {
  const abs = resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a directory, not a list file' : `cannot be read (${code ?? String(err)})`;
    throw new StnetError('E_INVALID_OPTION', `--input_file ${abs} ${why}`, { cause: err, path: abs });
  }
  const paths = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (paths.length === 0) throw new StnetError('E_INVALID_OPTION', `--input_file ${abs} lists no videos (only blank lines or # comments)`, { path: abs });
  return paths;
}
