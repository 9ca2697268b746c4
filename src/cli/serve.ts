// `stnet serve`: the HTTP service lives in src/server; this is only its flags, translated in options.ts.
import { Option, type Command } from 'commander';
import { CLASSIFY_DEFAULTS } from '../classify.js';
import { EXIT_CODE_HELP, EXIT_INTERRUPTED, EXIT_OK, type CommandContext } from './action.js';
import { toServeOptions } from './options.js';

export function registerServe(program: Command, ctx: CommandContext): void {
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
    .addOption(new Option('--use_gpu', "run the workers on onnxruntime's CUDA provider (needs onnxruntime-node installed with CUDA)"))
    .addOption(new Option('--precision <p>', 'fp32 (default) or int8 (quantized graph, CPU only; see docs/model.md)'))
    .addOption(new Option('--log', "fastify's JSON request log on stderr"))
    .addHelpText('after', `\nStops on SIGINT/SIGTERM after the requests in flight (a second signal cancels them), then exits 130 after SIGINT (Ctrl-C) and 0 after SIGTERM (a supervisor's normal stop).\n\nExamples:\n  $ stnet serve\n  $ STNET_TOKEN=secret stnet serve --host 0.0.0.0 --port 8866 --workers 2\n  $ curl --data-binary @examples/archery.avi -H "content-type: video/x-msvideo" http://127.0.0.1:8866/v1/classify\n${EXIT_CODE_HELP}`)
    .action(ctx.action((raw) => serveCli(raw), false));
}

/** Ranges are checked by resolveServeOptions, before any model loads. */
async function serveCli(raw: Record<string, unknown>): Promise<number> {
  // Loaded here, not at the top: fastify and its plugins cost every other command ~12 MB of RSS
  // (the CLI program with them 72 MB, the core alone 60 MB; together with onnx-proto, 0.2 s of each start).
  const { serveCommand } = await import('../server/serve.js');
  // Ctrl-C is an interruption (130, as for every command); SIGTERM is how supervisors stop a service (0).
  return (await serveCommand(toServeOptions(raw))) === 'SIGINT' ? EXIT_INTERRUPTED : EXIT_OK;
}
