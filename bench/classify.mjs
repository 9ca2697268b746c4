// Batch throughput of model.classify: the one-ahead pipeline (decode of video i+1 while video i is in
// onnxruntime) against the same work done serially (decode, then infer, per video), one model, runs interleaved.
//   node bench/classify.mjs [--full] [--rounds N] [weights]
// Default input size: seg_num 7, 112 px (fast); --full: the reference's 25 segments at 256 px.
// Needs `npx tsc -p .` first. Default weights: the golden LoDTensor stream in .cache/test (run the tests once).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const full = args.includes('--full');
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3;
const weights = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--rounds') ?? join(ROOT, '.cache', 'test', 'stnet_seed7_q.lodtensor');
const videosDir = join(ROOT, '..', 'shared', 'fixtures', 'videos');
const videos = ['paddlevideo_example.avi', 'mmaction2_demo.mp4', 'paddlevideo_example.avi', 'mmaction2_demo.mp4'].map((v) => join(videosDir, v));
if (!existsSync(weights) || !existsSync(videos[0])) {
  console.error(`needs ${weights} and ${videosDir}`);
  process.exit(2);
}

const { StNet } = await import(join(ROOT, 'dist', 'stnet.js'));
const { loadVideo } = await import(join(ROOT, 'dist', 'video', 'load-video.js'));
const size = full ? { segNum: 25, shortSize: 256, targetSize: 256 } : { segNum: 7, shortSize: 112, targetSize: 112 };
const model = await StNet.load({ weights });

async function serial() {
  let decode = 0;
  let infer = 0;
  for (const v of videos) {
    let t = performance.now();
    const clip = await loadVideo(v, { ...size, seglen: 5 });
    decode += performance.now() - t;
    t = performance.now();
    await model.predict(clip.data, clip.dims);
    infer += performance.now() - t;
  }
  return { decode, infer };
}

async function pipelined() {
  const results = await model.classify(videos, { ...size, topK: 5 });
  if (!results.every((r) => r.ok)) throw new Error(JSON.stringify(results));
}

await pipelined(); // warm-up: first-run allocations in onnxruntime and the page cache
const times = { serial: [], pipelined: [], decode: [], infer: [] };
for (let i = 0; i < rounds; i++) {
  for (const name of i % 2 === 0 ? ['serial', 'pipelined'] : ['pipelined', 'serial']) {
    const t0 = performance.now();
    if (name === 'serial') {
      const parts = await serial();
      times.decode.push(parts.decode);
      times.infer.push(parts.infer);
    } else {
      await pipelined();
    }
    times[name].push(performance.now() - t0);
  }
}
await model.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => xs.map((x) => Math.round(x)).join(', ');
console.log(`${videos.length} videos, seg_num ${size.segNum}, ${size.targetSize} px, ${model.threads} onnxruntime threads, ${rounds} rounds interleaved`);
console.log(`serial (decode then infer):   median ${Math.round(median(times.serial))} ms  [${fmt(times.serial)}]  (of which decode ${Math.round(median(times.decode))} ms, infer ${Math.round(median(times.infer))} ms)`);
console.log(`classify (one-ahead pipeline): median ${Math.round(median(times.pipelined))} ms  [${fmt(times.pipelined)}]`);
console.log(`ratio pipelined/serial: ${(median(times.pipelined) / median(times.serial)).toFixed(2)}`);
