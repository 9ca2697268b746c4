// The stnet command line: the commander program and its exit codes. Each command group lives in its own file
// (run.ts, timeline.ts, annotate.ts, weights.ts, export-onnx.ts, quantize.ts, serve.ts, cache.ts, queue.ts) and registers itself here with one line. Every command
// returns its exit code; nothing calls process.exit(), so output is always flushed and ffmpeg/onnxruntime shut down.
import { Command, CommanderError } from 'commander';
import { ENV_VARS } from '../env.js';
import { packageVersion } from '../version.js';
import { EXIT_CODE_HELP, EXIT_OK, EXIT_USAGE, commandContext, reportError, type CliIo } from './action.js';
import { keepToolRecord, saveToolRecord } from '../model/cache.js';
import { registerCache } from './cache.js';
import { StnetCommand } from './errors.js';
import { registerExportOnnx } from './export-onnx.js';
import { registerAnnotate } from './annotate.js';
import { loadCliModel, readList, registerRun } from './run.js';
import { registerQuantize } from './quantize.js';
import { registerQueueCommands } from './queue.js';
import { registerServe } from './serve.js';
import { registerTimeline } from './timeline.js';
import { registerWeights } from './weights.js';

export type { CliIo };
export { packageVersion };
export { readList } from './run.js';

const ENV_HELP = `
Environment:
${[...ENV_VARS, { name: 'NO_COLOR', meaning: 'no colour in text output' }].map((e) => `  ${e.name.padEnd(29)}${e.meaning}`).join('\n')}
`;

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => (exitCode = code));
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return EXIT_USAGE;
  }
  // Each command is a new process: what the ffmpeg binaries are is kept on disk rather than asked again each
  // time (issue 10), and written only by a command that succeeds, so a failed one leaves no trace in the cache.
  keepToolRecord(true);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version exit 0; everything commander rejects (unknown flag, missing value) is usage: 2.
      exitCode = err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    } else {
      exitCode = reportError(err, io);
    }
  }
  if (exitCode === EXIT_OK) saveToolRecord();
  keepToolRecord(false);
  return exitCode;
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new StnetCommand('stnet');
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
  $ stnet cache
${EXIT_CODE_HELP}${ENV_HELP}
Cache: $STNET_HOME (default ~/.cache/stnet) holds downloaded weights and built graphs; see "stnet cache".
`,
    );

  const ctx = commandContext(io, setExit);
  registerRun(program, ctx);
  const modelCtx = { ...ctx, loadModel: loadCliModel, readList, exitCodeHelp: EXIT_CODE_HELP };
  registerTimeline(program, modelCtx);
  registerAnnotate(program, modelCtx);
  registerWeights(program, ctx);
  registerExportOnnx(program, ctx);
  registerServe(program, ctx);
  registerQuantize(program, { ...ctx, readList, exitCodeHelp: EXIT_CODE_HELP });
  registerCache(program, ctx);
  registerQueueCommands(program, { ...ctx, readList });
  return program;
}
