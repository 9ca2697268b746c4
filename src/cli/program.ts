// The stnet command line: commander program, commands, exit codes. Every command returns its exit
// code; nothing here calls process.exit(), so output is always flushed and ffmpeg/onnxruntime shut down.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { CLASSIFY_DEFAULTS, validateClassifyOptions, validatePaths, type VideoResult } from '../classify.js';
import { StnetError, invalidOption, isStnetError } from '../errors.js';
import { serveCommand } from '../server/serve.js';
import { exportOnnx } from '../graph/stnet.js';
import { StNet } from '../stnet.js';
import { graphCacheEnabled, weightsCacheDir } from '../weights/cache.js';
import { detectFormat } from '../weights/detect.js';
import { readHead } from '../weights/io.js';
import { downloadWeights } from '../weights/download.js';
import { loadWeights } from '../weights/index.js';
import { resolveWeights, weightsUrls, type DownloadProgress, type ResolvedWeights, type ResolveWeightsOptions } from '../weights/resolve.js';
import { formatter } from './format.js';
import { EXIT_CODES, FORMATS, INT_OPTIONS, flagOf, toClassifyOptions, toRunValues, toServeOptions, type Format } from './options.js';
import { colorEnabled, createUi, type Ui } from './progress.js';
import { packageVersion } from '../version.js';
import { exportInt8, registerQuantize } from './quantize.js';

export interface CliIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly cwd: string;
}

const EXIT_OK = 0;
const EXIT_SOME_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

export { packageVersion };

const EXIT_CODE_HELP = `\nExit codes:\n${EXIT_CODES.map((e) => `  ${String(e.code).padEnd(4)} ${e.meaning}`).join('\n')}\n`;

const ENV_HELP = `
Environment:
  STNET_WEIGHTS              weights to use when --weights is not given
  STNET_HOME                 cache root (default ~/.cache/stnet); weights go to $STNET_HOME/weights
  STNET_WEIGHTS_URL          download from this URL instead of the official ones
  STNET_DOWNLOAD_TIMEOUT_MS  connect/stall timeout of a download (default 15000)
  STNET_FFMPEG, STNET_FFPROBE  ffmpeg/ffprobe binaries to use
  NO_COLOR                   no colour in text output
`;

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => (exitCode = code));
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version exit 0; everything commander rejects (unknown flag, missing value) is usage: 2.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    return reportError(err, io);
  }
  return exitCode;
}

function reportError(err: unknown, io: CliIo, command = 'stnet'): number {
  if (isStnetError(err)) {
    const hint = err.code === 'E_INVALID_OPTION' ? ` (see ${command} --help)` : '';
    io.stderr.write(`stnet: error ${err.code}: ${err.message}${hint}\n`);
    return err.code === 'E_CANCELLED' ? EXIT_INTERRUPTED : EXIT_USAGE;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  io.stderr.write(`stnet: internal error: ${e.stack ?? e.message}\nstnet: please report this with the command you ran\n`);
  return EXIT_USAGE;
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('stnet');
  program
    .description('StNet (ResNet-50) Kinetics-400 video action classifier: PaddleHub stnet_kinetics400 for Node.js')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .addHelpText(
      'after',
      `
Examples:
  $ stnet run --input_path video.mp4
  $ stnet run --input_file list.txt --format jsonl > results.jsonl
  $ stnet weights download
  $ stnet export-onnx --out stnet.onnx
${EXIT_CODE_HELP}${ENV_HELP}`,
    );

  const action =
    (fn: (raw: Record<string, unknown>, ui: Ui, signal: AbortSignal) => Promise<number>, cancellable = true) =>
    async (raw: Record<string, unknown>, cmd: Command): Promise<void> => {
      const names: string[] = [];
      for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
      const ui = createUi({ quiet: raw.quiet === true, stdout: io.stdout, stderr: io.stderr });
      // Ctrl-C: stop ffmpeg and downloads cleanly (temp files removed); a second Ctrl-C kills as usual.
      const controller = new AbortController();
      const onSigint = (): void => controller.abort(new Error('interrupted (SIGINT)'));
      // Only commands that honour the signal take over Ctrl-C; for the others (serve has its own handling once it
      // listens) a listener would swallow the first Ctrl-C.
      if (cancellable) process.once('SIGINT', onSigint);
      try {
        setExit(await fn(raw, ui, controller.signal));
      } catch (err) {
        ui.stop();
        setExit(reportError(err, io, names.join(' ')));
      } finally {
        ui.stop();
        process.removeListener('SIGINT', onSigint);
      }
    };

  // --- run
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
    .action(action((raw, ui, signal) => runCommand(raw, ui, io, signal)));

  // --- weights
  const weights = program.command('weights').description('download, locate or check the weights');
  weights
    .command('download')
    .description('download the official weights (or --weights_url) into the cache, replacing what is there')
    .addOption(new Option('--weights_url <url>', 'download from this URL (default: STNET_WEIGHTS_URL, else the official STNET.pdparams, then STNET_final.pdparams)'))
    .addOption(new Option('--quiet', 'no progress on stderr'))
    .addHelpText('after', `\nPrints the path of the downloaded file on stdout.\n\nExamples:\n  $ stnet weights download\n  $ STNET_HOME=/opt/stnet stnet weights download --weights_url https://mirror.example/STNET.pdparams\n${EXIT_CODE_HELP}`)
    .action(action((raw, ui, signal) => weightsDownloadCommand(raw, ui, io, signal)));
  weights
    .command('path')
    .description('print the path of the weights that "stnet run" would use (never downloads)')
    .addOption(new Option('--weights <path>', 'explicit weights (default: STNET_WEIGHTS, else the cache)'))
    .addOption(new Option('--weights_url <url>', 'the download URL whose cached file to look for'))
    .addHelpText('after', `\nExamples:\n  $ stnet weights path\n  $ ls -l "$(stnet weights path)"\n${EXIT_CODE_HELP}`)
    .action(action((raw) => weightsPathCommand(raw, io), false));
  weights
    .command('verify')
    .description('load and validate weights; print format, parameter count and sha256 (never downloads)')
    .addOption(new Option('--weights <path>', 'weights to check (default: STNET_WEIGHTS, else the cache)'))
    .addHelpText('after', `\nExamples:\n  $ stnet weights verify\n  $ stnet weights verify --weights ./STNET_final.pdparams\n${EXIT_CODE_HELP}`)
    .action(action((raw) => weightsVerifyCommand(raw, io), false));
  weights.addHelpText('after', `\nExamples:\n  $ stnet weights download\n  $ stnet weights path\n  $ stnet weights verify --weights ./STNET.pdparams\n`);

  // --- export-onnx
  program
    .command('export-onnx')
    .description('write the StNet graph with the weights as an ONNX model (input "image" [batch, seg_num, 15, H, W])')
    .requiredOption('--out <file>', 'output .onnx file')
    .addOption(new Option('--weights <path>', 'weights (default: STNET_WEIGHTS, else the cache, else download)'))
    .addOption(new Option('--weights_url <url>', 'download URL when the weights are not cached'))
    .addOption(new Option('--precision <p>', 'fp32 (default) or int8 (as stnet quantize with its defaults)'))
    .addOption(new Option('--quiet', 'no progress on stderr'))
    .addHelpText('after', `\nExamples:\n  $ stnet export-onnx --out stnet.onnx\n  $ stnet export-onnx --precision int8 --out stnet-int8.onnx\n  $ stnet export-onnx --weights STNET.pdparams --out stnet.onnx\n${EXIT_CODE_HELP}`)
    .action(action((raw, ui, signal) => exportOnnxCommand(raw, ui, io, signal)));

  registerQuantize(program, action, { stdout: io.stdout, cwd: io.cwd, readList }, EXIT_CODE_HELP);

  // --- serve (the HTTP service lives in src/server; this is only its flag translation)
  program
    .command('serve')
    .description('HTTP service: POST a video, get the VideoResult JSON (see docs/server.md)')
    .addOption(new Option('--host <host>', 'interface to listen on (default 127.0.0.1: this machine only)'))
    .addOption(new Option('--port <port>', 'port (default 8866, as PaddleHub serving; 0 = any free port)'))
    .addOption(new Option('--weights <path>', 'weights (default: STNET_WEIGHTS, else the cache, else download)'))
    .addOption(new Option('--workers <n>', 'model workers (default: one per 2 cores)'))
    .addOption(new Option('--threads <n>', 'onnxruntime threads per worker (default: cores / workers)'))
    .addOption(new Option('--max_upload_mb <mb>', 'upload limit in MiB (default 512)'))
    .addOption(new Option('--max_queue <n>', 'requests that may wait for a worker (default 2 x workers)'))
    .addOption(new Option('--token <token>', 'require "Authorization: Bearer <token>" (default: STNET_TOKEN; prefer the env var, flags show in ps)'))
    .addOption(new Option('--shutdown_grace_ms <ms>', 'on SIGINT/SIGTERM, let requests in flight finish for this long (default 10000)'))
    .addOption(new Option('--seg_num <n>', `default seg_num for requests that give none (default ${CLASSIFY_DEFAULTS.segNum})`))
    .addOption(new Option('--short_size <px>', `short side after the 4:3 resize (default ${CLASSIFY_DEFAULTS.shortSize})`))
    .addOption(new Option('--target_size <px>', `centre-crop size (default ${CLASSIFY_DEFAULTS.targetSize})`))
    .addOption(new Option('--precision <p>', 'fp32 (default) or int8 (quantized graph, CPU only; see docs/model.md)'))
    .addOption(new Option('--log', "fastify's JSON request log on stderr"))
    .addHelpText('after', `\nStops on SIGINT/SIGTERM after the requests in flight (a second signal cancels them).\n\nExamples:\n  $ stnet serve\n  $ STNET_TOKEN=secret stnet serve --host 0.0.0.0 --port 8866 --workers 2\n  $ curl --data-binary @examples/archery.avi -H "content-type: video/x-msvideo" http://127.0.0.1:8866/v1/classify\n${EXIT_CODE_HELP}`)
    .action(action((raw) => serveCli(raw), false));

  return program;
}

/** `stnet serve`: flags translated in options.ts; ranges checked by resolveServeOptions, before any model loads. */
async function serveCli(raw: Record<string, unknown>): Promise<number> {
  await serveCommand(toServeOptions(raw));
  return EXIT_OK;
}

// ---------------------------------------------------------------- run

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

  // StNet.load resolves (and on first use downloads) the weights itself, so a download is parsed only once.
  const hooks = downloadHooks(ui);
  const model = await StNet.load({
    ...(values.weights !== undefined ? { weights: values.weights } : {}),
    ...(values.weightsUrl !== undefined ? { weightsUrl: values.weightsUrl } : {}),
    ...(values.threads !== undefined ? { threads: values.threads } : {}),
    useGpu: values.useGpu,
    ...(values.precision !== undefined ? { precision: values.precision as 'fp32' | 'int8' } : {}),
    ...(values.model !== undefined ? { model: resolve(io.cwd, values.model) } : {}),
    signal,
    onDownloadStart: hooks.onDownloadStart,
    onDownloadProgress: hooks.onDownloadProgress,
    // The CLI is started again and again with the same weights: always keep the built graph (STNET_GRAPH_CACHE=0 turns it off).
    graphCache: graphCacheEnabled(undefined, true),
  });
  ui.stop();
  if (hooks.downloaded()) ui.log(`weights saved to ${model.weightsPath ?? ''}`);
  try {
    const fmt = formatter(format, { color: colorEnabled(io.stdout) });
    ui.out(fmt.header);
    const bar = ui.batch(paths.length);
    const results: VideoResult[] = await model.classify(paths, {
      ...classifyOpts,
      signal,
      onProgress: ({ done, result }) => {
        ui.out(fmt.item(result));
        bar.tick(done, result.path);
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
    await model.close();
  }
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

/** A weights download shown on stderr: an info line and a progress bar. */
function downloadHooks(ui: Ui, what = 'no weights given and none cached: downloading') {
  let bar: ReturnType<Ui['download']> | undefined;
  return {
    onDownloadStart: (url: string, total: number | undefined): void => {
      ui.log(`${what} ${url}${total !== undefined ? ` (${(total / 1048576).toFixed(1)} MB)` : ''}`);
      bar = ui.download(url, total);
    },
    onDownloadProgress: (p: DownloadProgress): void => bar?.update(p.receivedBytes),
    downloaded: (): boolean => bar !== undefined,
  };
}

/** resolveWeights with the download shown on stderr. */
async function resolveWithUi(opts: ResolveWeightsOptions, ui: Ui): Promise<ResolvedWeights> {
  const hooks = downloadHooks(ui);
  const resolved = await resolveWeights({ ...opts, onDownloadStart: hooks.onDownloadStart, onDownloadProgress: hooks.onDownloadProgress });
  ui.stop();
  if (resolved.source === 'download') ui.log(`weights saved to ${resolved.path}`);
  return resolved;
}

// ---------------------------------------------------------------- weights

async function weightsDownloadCommand(raw: Record<string, unknown>, ui: Ui, io: CliIo, signal: AbortSignal): Promise<number> {
  const urls = weightsUrls(raw.weights_url as string | undefined);
  const hooks = downloadHooks(ui, 'downloading');
  const path = await downloadWeights({
    urls,
    dir: weightsCacheDir(),
    signal,
    validate: async (p) => {
      ui.stop();
      ui.log('validating the download');
      await loadWeights(p);
    },
    onStart: hooks.onDownloadStart,
    onProgress: hooks.onDownloadProgress,
  });
  ui.stop();
  io.stdout.write(`${path}\n`);
  return EXIT_OK;
}

async function weightsPathCommand(raw: Record<string, unknown>, io: CliIo): Promise<number> {
  const resolved = await resolveWeights({ weights: raw.weights as string | undefined, weightsUrl: raw.weights_url as string | undefined, download: false });
  io.stdout.write(`${resolved.path}\n`);
  return EXIT_OK;
}

async function weightsVerifyCommand(raw: Record<string, unknown>, io: CliIo): Promise<number> {
  const resolved = await resolveWeights({ weights: raw.weights as string | undefined, download: false });
  const path = resolved.path;
  const weights = await loadWeights(path);
  let values = 0;
  for (const p of weights.values()) values += p.data.length;
  const st = statSync(path);
  let format = 'directory';
  let sha = 'n/a (directory)';
  if (st.isFile()) {
    const det = detectFormat(await readHead(path));
    format = det.format === 'pickle' ? `pickle (protocol ${det.protocol ?? '?'})` : det.format;
    sha = await sha256File(path);
  }
  const n = (x: number): string => x.toLocaleString('en-US');
  io.stdout.write(
    [
      `path     ${path}`,
      `source   ${resolved.source === 'option' ? '--weights' : resolved.source === 'env' ? 'STNET_WEIGHTS' : 'cache'}`,
      `format   ${format}`,
      `params   ${n(weights.size)} tensors, ${n(values)} float32 values`,
      ...(st.isFile() ? [`size     ${n(st.size)} bytes`] : []),
      `sha256   ${sha}`,
      'valid    StNet ResNet-50, seglen 5, Kinetics-400 (every shape checked, all values finite)',
      '',
    ].join('\n'),
  );
  return EXIT_OK;
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}

// ---------------------------------------------------------------- export-onnx

async function exportOnnxCommand(raw: Record<string, unknown>, ui: Ui, io: CliIo, signal: AbortSignal): Promise<number> {
  if (raw.precision !== undefined && raw.precision !== 'fp32' && raw.precision !== 'int8') throw invalidOption('--precision', '"fp32" or "int8"', raw.precision);
  if (raw.precision === 'int8') return exportInt8(raw, ui, { stdout: io.stdout, cwd: io.cwd, readList }, signal);
  const out = resolve(io.cwd, raw.out as string);
  const resolved = await resolveWithUi({ weights: raw.weights as string | undefined, weightsUrl: raw.weights_url as string | undefined, signal }, ui);
  // A first-use download was parsed to validate it: export those weights instead of reading the file again.
  await exportOnnx(resolved.weights ?? resolved.path, out);
  ui.log(`wrote ${out}`);
  io.stdout.write(`${out}\n`);
  return EXIT_OK;
}
