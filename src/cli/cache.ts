// `stnet cache` (list what is cached, with sizes) and `stnet cache clean`.
import { Option, type Command } from 'commander';
import { cacheContents, cleanCache } from '../model/cache.js';
import { EXIT_CODE_HELP, EXIT_OK, type CliIo, type CommandContext } from './action.js';
import { toCacheCleanValues } from './options.js';

const WHERE = 'The cache is $STNET_HOME (default ~/.cache/stnet): weights/ holds downloaded weights, graphs/ the built ONNX graphs (the two most recently used are kept), tools/ffmpeg.json the versions of the ffmpeg binaries last found.';

export function registerCache(program: Command, ctx: CommandContext): void {
  const cache = program
    .command('cache')
    .description('list the cached weights and graphs with their sizes ($STNET_HOME, default ~/.cache/stnet)')
    .addHelpText('after', `\n${WHERE}\n\nExamples:\n  $ stnet cache\n  $ stnet cache clean\n  $ stnet cache clean --graphs_only\n${EXIT_CODE_HELP}`)
    .action(ctx.action(() => cacheListCommand(ctx.io), false));
  cache
    .command('clean')
    .description('remove the cached graphs and downloaded weights')
    .addOption(new Option('--graphs_only', 'keep the downloaded weights, remove only the built graphs'))
    .addHelpText('after', `\n${WHERE}\nPrints what was removed on stderr.\n${EXIT_CODE_HELP}`)
    .action(ctx.action((raw) => cacheCleanCommand(raw, ctx.io), false));
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

async function cacheListCommand(io: CliIo): Promise<number> {
  const c = cacheContents();
  const lines = [`cache    ${c.home}`];
  for (const w of c.weights) lines.push(`weights  ${mb(w.bytes).padStart(10)}  ${w.path}${w.partial ? '  (unfinished download)' : ''}`);
  for (const g of c.graphs) {
    const from = g.info === undefined ? '' : `  (${g.info.variant}, from ${g.info.weights})`;
    lines.push(`graph    ${mb(g.bytes).padStart(10)}  ${g.path}${from}`);
  }
  if (c.tools) lines.push(`tools    ${mb(c.tools.bytes).padStart(10)}  ${c.tools.path}  (ffmpeg versions)`);
  const total = c.weights.reduce((a, w) => a + w.bytes, 0) + c.graphs.reduce((a, g) => a + g.bytes, 0) + (c.tools?.bytes ?? 0);
  lines.push(`total    ${mb(total).padStart(10)}  ${c.weights.length} weights file${c.weights.length === 1 ? '' : 's'}, ${c.graphs.length} graph${c.graphs.length === 1 ? '' : 's'}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_OK;
}

async function cacheCleanCommand(raw: Record<string, unknown>, io: CliIo): Promise<number> {
  const freed = cleanCache(undefined, toCacheCleanValues(raw));
  io.stderr.write(`stnet: removed ${freed.files} file${freed.files === 1 ? '' : 's'} (${mb(freed.bytes)}) from ${cacheContents().home}\n`);
  return EXIT_OK;
}
