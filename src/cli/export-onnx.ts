// `stnet export-onnx`: the model's bytes from the one loading path (src/model/load.ts), written to --out here.
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { envGraphCache } from '../env.js';
import { checkModelOutPath, writeModelFile } from '../model/export.js';
import { checkModelSourceOptions, loadModelBytes, readModelBytes } from '../model/load.js';
import { EXIT_CODE_HELP, EXIT_OK, downloadHooks, type CliIo, type CommandContext } from './action.js';
import { toSourceValues } from './options.js';
import type { Ui } from './progress.js';

export function registerExportOnnx(program: Command, ctx: CommandContext): void {
  program
    .command('export-onnx')
    .description('write the StNet graph with the weights as an ONNX model (input "image" [batch, seg_num, 15, H, W])')
    .requiredOption('--out <file>', 'output .onnx file')
    .addOption(new Option('--weights <path>', 'weights (default: STNET_WEIGHTS, else the cache, else download)'))
    .addOption(new Option('--weights_url <url>', 'download URL when the weights are not cached'))
    .addOption(new Option('--precision <p>', 'fp32 (default) or int8 (as stnet quantize with its defaults: calibrated on the bundled example clip)'))
    .addOption(new Option('--quiet', 'no progress on stderr'))
    .addHelpText('after', `\nExamples:\n  $ stnet export-onnx --out stnet.onnx\n  $ stnet export-onnx --precision int8 --out stnet-int8.onnx\n  $ stnet export-onnx --weights STNET.pdparams --out stnet.onnx\n${EXIT_CODE_HELP}`)
    .action(ctx.action((raw, ui, signal) => exportOnnxCommand(raw, ui, ctx.io, signal)));
}

async function exportOnnxCommand(raw: Record<string, unknown>, ui: Ui, io: CliIo, signal: AbortSignal): Promise<number> {
  const v = toSourceValues(raw);
  // Checked before the (slow) weights load.
  const out = await checkModelOutPath(resolve(io.cwd, v.out ?? ''));
  const hooks = downloadHooks(ui);
  // As `stnet run`: a graph built once is kept (also for explicit weights), so a later run or export reads it.
  const model = await loadModelBytes(
    checkModelSourceOptions({
      ...(v.weights !== undefined ? { weights: v.weights } : {}),
      ...(v.weightsUrl !== undefined ? { weightsUrl: v.weightsUrl } : {}),
      ...(v.precision !== undefined ? { precision: v.precision } : {}),
      signal,
      onDownloadStart: hooks.onDownloadStart,
      onDownloadProgress: hooks.onDownloadProgress,
    }),
    { cacheByDefault: envGraphCache() ?? true },
  );
  ui.stop();
  if (model.weightsSource === 'download') ui.log(`weights saved to ${model.weightsPath ?? ''}`);
  await writeModelFile(await readModelBytes(model), out);
  ui.log(`wrote ${out}`);
  io.stdout.write(`${out}\n`);
  return EXIT_OK;
}
