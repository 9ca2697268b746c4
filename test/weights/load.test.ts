// loadWeights end to end: every format and layout, and every bad input a user can give.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadWeights, STNET_PARAMS, STNET_SORTED_NAMES, type StnetWeights } from '../../src/weights/index.js';
import type { Float32Param } from '../../src/weights/types.js';
import { readHead, readWhole } from '../../src/weights/io.js';
import { goldenXz, GOLDEN_SKIP_REASON, HAS_GOLDEN } from '../helpers/golden.js';
import {
  HUB_PREFIX,
  lodTensorStream,
  makePatternStnetWeights,
  makeRandomStnetWeights,
  writeMaliciousPickle,
  writeStnetDirectory,
  writeStnetPickle,
  writeStnetStream,
  writeTar,
  type LodRecordSpec,
} from '../helpers/weights-writers.js';
import { rejects } from '../helpers/errors.js';

let dir: string;
let pattern: Map<string, Float32Param>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stnet-load-test-'));
  pattern = makePatternStnetWeights();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

function expectSame(w: StnetWeights, ref: ReadonlyMap<string, Float32Param>): void {
  expect([...w.keys()]).toEqual(STNET_PARAMS.map((p) => p.name));
  for (const p of STNET_PARAMS) {
    const got = w.get(p.name)!;
    expect(got.shape, p.name).toEqual(p.shape);
    expect(got.data).toBeInstanceOf(Float32Array);
    // Buffer.compare on the bytes: exact, -0 and all, and fast for 33M values.
    const a = Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength);
    const r = ref.get(p.name)!.data;
    const b = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
    if (Buffer.compare(a, b) !== 0) expect.fail(`${p.name} differs`);
  }
}

function withParam(name: string, p: Float32Param | undefined): Map<string, Float32Param> {
  const m = new Map(pattern);
  if (p === undefined) m.delete(name);
  else m.set(name, p);
  return m;
}

describe.skipIf(!HAS_GOLDEN)(`golden full-size weights ${HAS_GOLDEN ? '' : GOLDEN_SKIP_REASON}`, () => {
  test('the pickle (protocol 2, Python 3) and the combined stream load to identical arrays', async () => {
    const fromPickle = await loadWeights(await goldenXz('stnet_seed7_q.pdparams'));
    const fromStream = await loadWeights(await goldenXz('stnet_seed7_q.lodtensor'));
    expectSame(fromStream, fromPickle);
    const c = fromPickle.get('conv1_weights')!;
    expect(c.shape).toEqual([64, 15, 7, 7]);
    expect(c.data.length).toBe(47040);
    let total = 0;
    for (const p of fromPickle.values()) total += p.data.length;
    expect(total).toBe(33_223_248);
    // One copy only: every float32 parameter is a view into the file's own buffer, nothing else is held.
    for (const [w, file] of [[fromStream, 'stnet_seed7_q.lodtensor'], [fromPickle, 'stnet_seed7_q.pdparams']] as const) {
      const buffers = new Set([...w.values()].map((p) => p.data.buffer));
      expect(buffers.size).toBe(1);
      expect([...buffers][0]!.byteLength).toBe(statSync(await goldenXz(file)).size);
    }
  });

  test('the stream\'s first record is batch_norm_24.b_0 and its bytes are what the file holds', async () => {
    const path = await goldenXz('stnet_seed7_q.lodtensor');
    const raw = readFileSync(path);
    const w = await loadWeights(path);
    // Record 0: 4 + 8 + 4 + 4 + TensorDesc (08 05 10 80 04 = 5 bytes) header, then 512 float32.
    expect([...raw.subarray(20, 25)]).toEqual([0x08, 0x05, 0x10, 0x80, 0x04]);
    const first = new Float32Array(raw.buffer.slice(raw.byteOffset + 25, raw.byteOffset + 25 + 2048));
    expect([...w.get('batch_norm_24.b_0')!.data]).toEqual([...first]);
  });
});

describe('weights files the writers produce (full size)', () => {
  // Random values cover every byte value (the latin-1 decoding); the three variants are the three ways data
  // reaches the in-place path (a LoDTensor range, a Py3 latin-1 string, a protocol-5 buffer). The other
  // pickle spellings are covered by the round-trip tests in pickle.test.ts.
  test('random weights: stream, pickle protocol 2 (Python 3) and 5 load bit-exactly', async () => {
    const ref = makeRandomStnetWeights(7);
    const variants: [string, () => Uint8Array][] = [
      ['stream', () => writeStnetStream(ref)],
      ['p2py3', () => writeStnetPickle(ref, { protocol: 2 })],
      ['p5', () => writeStnetPickle(ref, { protocol: 5, container: 'OrderedDict' })],
    ];
    for (const [name, write] of variants) {
      const p = file(`random.${name}`, write());
      expectSame(await loadWeights(p), ref);
      rmSync(p);
    }
  });

  test('float16 and float64 records are converted to float32 (mixed in one stream, and in a pickle)', async () => {
    const recs: LodRecordSpec[] = STNET_SORTED_NAMES.map((n, i) => {
      const p = pattern.get(n)!;
      const dtype = p.shape.length === 1 ? 'float64' : i % 2 === 0 ? 'float16' : 'float32';
      return { dtype, dims: p.shape, values: p.data };
    });
    expectSame(await loadWeights(file('mixed.stream', lodTensorStream(recs))), pattern);
    expectSame(await loadWeights(file('f16.pdparams', writeStnetPickle(pattern, { protocol: 3, dtype: 'float16' }))), pattern);
  });

  test('a gzip-compressed stream is sniffed and loaded', async () => {
    expectSame(await loadWeights(file('stream.gz', gzipSync(writeStnetStream(pattern), { level: 1 }))), pattern);
  });
});

describe('directories, PaddleHub module folders and archives', () => {
  let hub: string;
  beforeAll(async () => {
    hub = join(dir, 'hubsrc', 'stnet_kinetics400');
    writeStnetDirectory(hub, pattern, { hub: true });
    // Optimizer state and other files a real folder may hold next to the parameters.
    writeFileSync(join(hub, 'model', `${HUB_PREFIX}conv1_weights_velocity_0`), lodTensorStream([{ dtype: 'float32', dims: [1], values: [9] }]));
    writeFileSync(join(hub, 'model', `${HUB_PREFIX}learning_rate_0`), lodTensorStream([{ dtype: 'float32', dims: [1], values: [0.1] }]));
    writeFileSync(join(hub, 'check_info.pb'), 'x');
    await writeTar(join(dir, 'module.tar.gz'), join(dir, 'hubsrc'), { gzip: true });
  });

  test('the module folder and its model/ folder', async () => {
    expectSame(await loadWeights(hub), pattern);
    expectSame(await loadWeights(join(hub, 'model')), pattern);
  });

  test('a plain one-file-per-parameter directory (stnet_kinetics.tar.gz layout) and a .tar of it', async () => {
    const plain = join(dir, 'plain', 'stnet_kinetics');
    writeStnetDirectory(plain, pattern);
    writeFileSync(join(plain, 'STNET.pdopt'), 'optimizer state');
    expectSame(await loadWeights(plain), pattern);
    await writeTar(join(dir, 'plain.tar'), join(dir, 'plain'));
    rmSync(join(dir, 'plain'), { recursive: true });
    expectSame(await loadWeights(join(dir, 'plain.tar')), pattern);
  });

  test('a .tar.gz of a module folder (top folder inside the archive)', async () => {
    expectSame(await loadWeights(join(dir, 'module.tar.gz')), pattern);
  });

  test('a folder holding a single weights file; a module whose model/ holds one combined params file', async () => {
    const one = join(dir, 'one');
    mkdirSync(one);
    writeFileSync(join(one, 'STNET_final.pdparams'), writeStnetStream(pattern));
    writeFileSync(join(one, 'README.md'), '# weights');
    expectSame(await loadWeights(one), pattern);
    rmSync(one, { recursive: true });
    const mod = join(dir, 'combined-module');
    mkdirSync(join(mod, 'model'), { recursive: true });
    mkdirSync(join(mod, 'python'));
    writeFileSync(join(mod, 'model', '__model__'), Uint8Array.of(0x0a, 0x02, 0x08, 0x00));
    writeFileSync(join(mod, 'model', '__params__'), writeStnetStream(pattern));
    expectSame(await loadWeights(mod), pattern);
    rmSync(mod, { recursive: true });
  });
});

describe('bad input', () => {
  test('nonexistent path', async () => {
    await rejects(loadWeights(join(dir, 'nope', 'STNET.pdparams')), 'E_WEIGHTS_NOT_FOUND', /STNET\.pdparams not found: check the path/);
  });

  test('a directory with no weights (empty, or only non-parameter files)', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await rejects(loadWeights(empty), 'E_WEIGHTS_NOT_FOUND', /empty: no StNet weights in this directory/);
    writeFileSync(join(empty, '__model__'), Uint8Array.of(0, 0, 0, 0));
    writeFileSync(join(empty, 'notes.txt'), 'hello');
    await rejects(loadWeights(empty), 'E_WEIGHTS_NOT_FOUND', /no StNet weights in this directory/);
  });

  test('a text file, an HTML error page, a protocol-0 pickle, a zip, an empty file', async () => {
    await rejects(loadWeights(file('notes.txt', 'these are not weights\n')), 'E_WEIGHTS_FORMAT', /notes\.txt: not a supported weights file: it is a text file \(starts with "these are not weights\\n"\)/);
    await rejects(loadWeights(file('page.pdparams', '<!DOCTYPE html><html>404</html>')), 'E_WEIGHTS_FORMAT', /it is a text file \(starts with "<!DOCTYPE html>/);
    await rejects(loadWeights(file('p0.pdparams', "(dp0\nS'conv1_weights'\np1\n")), 'E_WEIGHTS_FORMAT', /protocol 0 \(text\) pickle/);
    await rejects(loadWeights(file('w.zip', Uint8Array.of(0x50, 0x4b, 3, 4, 0, 0, 0, 0))), 'E_WEIGHTS_FORMAT', /zip archive/);
    await rejects(loadWeights(file('p6.pdparams', Uint8Array.of(0x80, 6, 0x7d, 0x2e))), 'E_WEIGHTS_FORMAT', /it is a pickle of protocol 6, only protocols 2 to 5 are supported/);
    await rejects(loadWeights(file('junk.bin', Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 1, 2, 3))), 'E_WEIGHTS_FORMAT', /junk\.bin: not a supported weights file: unrecognised bytes \("\\xde\\xad\\xbe\\xef\\x01/);
    await rejects(loadWeights(file('zero.pdparams', '')), 'E_WEIGHTS_TRUNCATED', /zero\.pdparams: weights file is empty \(0 bytes\)/);
    await rejects(loadWeights(file('zeros.pdparams', new Uint8Array(4096))), 'E_WEIGHTS_CORRUPT', /zeros\.pdparams: the file starts with 64 zero bytes, not weights: probably an interrupted or preallocated download/);
  });

  test('truncated files of each format', async () => {
    const stream = writeStnetStream(pattern);
    await rejects(
      loadWeights(file('cut.stream', stream.subarray(0, stream.length - 1000))),
      'E_WEIGHTS_TRUNCATED',
      /cut\.stream: weights file truncated: record 300 \(xception_dw\.w_0\) needs 8388608 bytes for its data \(float32 \[1024,2048,1,1\]\), 8387608 remain/,
    );
    // Cut exactly after a record: no record is damaged, 150 are missing.
    let end = 0;
    for (const n of STNET_SORTED_NAMES.slice(0, 150)) end += lodTensorStream([{ dtype: 'float32', dims: pattern.get(n)!.shape, values: [] }]).length + pattern.get(n)!.data.byteLength;
    await rejects(loadWeights(file('cut150.stream', stream.subarray(0, end))), 'E_WEIGHTS_TRUNCATED', /ends after 150 of 301 records; record 150 \(.+\) is missing/);

    const pickle = writeStnetPickle(pattern, { protocol: 2 });
    await rejects(loadWeights(file('cut.pdparams', pickle.subarray(0, pickle.length / 2))), 'E_WEIGHTS_TRUNCATED', /cut\.pdparams: weights file truncated: pickle BINUNICODE at byte \d+ \(reading parameter \w+\) needs \d+ bytes, \d+ remain/);

    const pdir = join(dir, 'cutdir');
    writeStnetDirectory(pdir, pattern);
    const victim = join(pdir, 'res4f_branch2c_weights');
    writeFileSync(victim, readFileSync(victim).subarray(0, 1000));
    await rejects(loadWeights(pdir), 'E_WEIGHTS_TRUNCATED', /res4f_branch2c_weights: weights file truncated: record 0 \(res4f_branch2c_weights\) needs 1048576 bytes for its data/);

    await writeTar(join(dir, 'cut.tar'), pdir);
    rmSync(pdir, { recursive: true });
    const tarBytes = readFileSync(join(dir, 'cut.tar'));
    await rejects(loadWeights(file('cut.tar', tarBytes.subarray(0, 5_000_000))), 'E_WEIGHTS_TRUNCATED', /cut\.tar: weights archive truncated/);
    await rejects(loadWeights(file('cut.tar.gz', gzipSync(tarBytes, { level: 1 }).subarray(0, 100_000))), 'E_WEIGHTS_TRUNCATED', /cut\.tar\.gz: weights archive truncated/);
    const gz = gzipSync(stream.subarray(0, 3_000_000), { level: 1 });
    await rejects(loadWeights(file('cut.stream.gz', gz.subarray(0, gz.length - 100))), 'E_WEIGHTS_TRUNCATED', /cut\.stream\.gz: weights file truncated: the gzip stream ends early/);
  });

  test('a pickle that calls os.system is refused before anything runs', async () => {
    await rejects(loadWeights(file('evil.pdparams', writeMaliciousPickle('os', 'system', 'echo pwned'))), 'E_PICKLE_FORBIDDEN', /evil\.pdparams: pickle refers to the Python global os\.system \(at byte \d+\).*nothing was run/);
  });

  test('wrong shape, missing and unexpected parameters: all listed in one error', async () => {
    const m = withParam('fc_0.b_0', undefined);
    m.set('fc_0.w_0', { shape: [400, 1024], data: pattern.get('fc_0.w_0')!.data });
    m.delete('conv1_weights');
    m.set('fc_1.w_0', { shape: [2], data: new Float32Array(2) });
    await rejects(
      loadWeights(file('all.pdparams', writeStnetPickle(m, { protocol: 4 }))),
      'E_WEIGHTS_SHAPE',
      /^\S+all\.pdparams: weights do not match StNet-R50 \(seglen 5, 400 classes; 301 parameters\): 1 with the wrong shape: fc_0\.w_0 \(expected \[1024,400\], got \[400,1024\]\); 2 missing: conv1_weights, fc_0\.b_0; 1 unexpected: fc_1\.w_0\. Use weights/,
    );
    // In a stream, names come from the sorted list: a record with the wrong dims is reported under its name.
    const s = withParam('batch_norm_24.b_0', { shape: [511], data: new Float32Array(511) });
    await rejects(loadWeights(file('shape.stream', writeStnetStream(s))), 'E_WEIGHTS_SHAPE', /: 1 with the wrong shape: batch_norm_24\.b_0 \(expected \[512\], got \[511\]\)\. /);
  });

  test('NaN or Inf in a weight names the parameter', async () => {
    const bad = new Float32Array(pattern.get('res4f_branch2c_weights')!.data);
    bad[5] = NaN;
    const inf = new Float32Array(400);
    inf[399] = -Infinity;
    const w = withParam('res4f_branch2c_weights', { shape: [1024, 256, 1, 1], data: bad });
    await rejects(
      loadWeights(file('nan.pdparams', writeStnetPickle(w, { protocol: 2 }))),
      'E_WEIGHTS_NAN',
      /nan\.pdparams: weights contain NaN or Inf in 1 parameter\(s\): res4f_branch2c_weights \(NaN at index 5 of 262144\)/,
    );
    w.set('fc_0.b_0', { shape: [400], data: inf });
    await rejects(loadWeights(file('inf.stream', writeStnetStream(w))), 'E_WEIGHTS_NAN', /in 2 parameter\(s\): res4f_branch2c_weights \(NaN at index 5 of 262144\), fc_0\.b_0 \(-Infinity at index 399 of 400\)/);
  });

  test('a single parameter file out of a folder is named as such', async () => {
    const one = file(`${HUB_PREFIX}conv1_weights`, lodTensorStream([{ dtype: 'float32', dims: [64, 15, 7, 7], values: pattern.get('conv1_weights')!.data }]));
    await rejects(loadWeights(one), 'E_WEIGHTS_FORMAT', /this is a single parameter file \(conv1_weights\) out of a parameter folder: pass the folder/);
  });

  test('read errors (a folder read as a file, a file gone meanwhile) are typed and name the path', async () => {
    await rejects(readWhole(dir, 10), 'E_WEIGHTS_NOT_FOUND', /cannot be read \(EISDIR\): check its permissions/);
    await rejects(readHead(join(dir, 'gone')), 'E_WEIGHTS_NOT_FOUND', /gone cannot be read \(ENOENT\): it disappeared while loading/);
  });

  test('a path that is neither file nor directory', async () => {
    await rejects(loadWeights('/dev/null'), 'E_WEIGHTS_FORMAT', /\/dev\/null: not a regular file or directory/);
  });

  test('errors inside an archive name the archive, not the temporary folder', async () => {
    const src = join(dir, 'arch-src');
    writeStnetDirectory(join(src, 'stnet_kinetics'), new Map([['fc_0.w_0', { shape: [1024, 401], data: new Float32Array(1024 * 401) }]]));
    await writeTar(join(dir, 'partial.tar'), src);
    rmSync(src, { recursive: true });
    const err = await rejects(loadWeights(join(dir, 'partial.tar')), 'E_WEIGHTS_SHAPE', /partial\.tar:stnet_kinetics: weights do not match .*fc_0\.w_0 \(expected \[1024,400\], got \[1024,401\]\); 300 missing: conv1_weights, /);
    expect(err.message).not.toMatch(/stnet-weights-/);
  });
});
