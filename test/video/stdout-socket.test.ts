// A child's stdout read into one reused buffer (src/video/stdout-socket.ts): every byte arrives, in order, through
// one buffer; only the connection that sends the token gets the child's end; runChild's results, failures and
// kills are the same as through a pipe.
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { runChild } from '../../src/video/child.js';
import { acceptWithToken, openStdoutSocket } from '../../src/video/stdout-socket.js';

const linux = process.platform === 'linux';
// Writes `n` bytes of a seeded pattern in uneven writes, then exits with `code`.
const writer = (n: number, code = 0): string[] => [
  '-e',
  `let left=${n},i=0;const w=()=>{while(left>0){const k=Math.min(left,1+((i*7919)%100000));const b=Buffer.alloc(k);for(let j=0;j<k;j++)b[j]=(i+j)&255;left-=k;i+=k;if(!process.stdout.write(b))return process.stdout.once('drain',w)}process.exitCode=${code}};w()`,
];
const expected = (n: number): string => {
  const b = Buffer.alloc(n);
  for (let j = 0; j < n; j++) b[j] = j & 255;
  return createHash('sha256').update(b).digest('hex');
};
const limits = (timeoutMs = 30_000) => ({ deadline: Date.now() + timeoutMs, timeoutMs, path: 'test-child' });

describe.runIf(linux)('stdout through a socket into one buffer', () => {
  it('runChild with transientChunks gets every byte in order, each chunk a view of the same reused buffer', async () => {
    const n = 5_000_003;
    const hash = createHash('sha256');
    const buffers = new Set<ArrayBufferLike>();
    let total = 0;
    const res = await runChild(process.execPath, writer(n), limits(), (chunk) => {
      hash.update(chunk);
      buffers.add(chunk.buffer);
      total += chunk.length;
    }, { transientChunks: true });
    expect(res).toMatchObject({ code: 0, exitSignal: null });
    expect(total).toBe(n);
    expect(hash.digest('hex')).toBe(expected(n));
    expect(buffers.size).toBe(1);
    // Through a pipe (the default), Node gives a new buffer per read: the thing this avoids.
    const pipeBuffers = new Set<ArrayBufferLike>();
    await runChild(process.execPath, writer(n), limits(), (chunk) => pipeBuffers.add(chunk.buffer));
    expect(pipeBuffers.size).toBeGreaterThan(10);
  });

  it('with readInto, reads land in the region it names (no copy); every byte still arrives in order', async () => {
    const n = 3_000_001;
    const target = new Uint8Array(n);
    let fill = 0;
    let inPlace = 0;
    let asked = 0;
    const res = await runChild(process.execPath, writer(n), limits(), (chunk) => {
      if (chunk.buffer === target.buffer) {
        expect(chunk.byteOffset).toBe(fill);
        inPlace++;
      } else {
        target.set(chunk, fill);
      }
      fill += chunk.length;
    }, { transientChunks: true, readInto: () => (asked++, fill < n ? target.subarray(fill) : undefined) });
    expect(res.code).toBe(0);
    expect(fill).toBe(n);
    expect(createHash('sha256').update(target).digest('hex')).toBe(expected(n));
    // The first read (asked at connect, before any byte) goes to the socket's buffer; after that, in place.
    expect(inPlace).toBeGreaterThan(5);
    expect(asked).toBeGreaterThan(inPlace);
  });

  it('a failing child still reports its exit status and stderr; a callback error and a timeout kill it', async () => {
    const failed = await runChild(process.execPath, ['-e', 'process.stdout.write("abc");console.error("bad thing");process.exit(3)'], limits(), () => undefined, { transientChunks: true });
    expect(failed).toMatchObject({ code: 3, stderr: expect.stringContaining('bad thing') });
    await expect(runChild(process.execPath, writer(50_000_000), limits(), () => {
      throw new Error('enough');
    }, { transientChunks: true })).rejects.toThrow('enough');
    const t0 = Date.now();
    await expect(runChild(process.execPath, ['-e', 'setTimeout(()=>{},60000)'], limits(300), () => undefined, { transientChunks: true })).rejects.toMatchObject({ code: 'E_VIDEO_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(10_000);
    const ac = new AbortController();
    const run = runChild(process.execPath, ['-e', 'setTimeout(()=>{},60000)'], { ...limits(), signal: ac.signal }, () => undefined, { transientChunks: true });
    setTimeout(() => ac.abort(), 100);
    await expect(run).rejects.toMatchObject({ code: 'E_CANCELLED' });
  });

  it('only the connection that sends the token is taken; another one is dropped', async () => {
    const name = `\0stnet-test-${randomBytes(8).toString('hex')}`;
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(name, r));
    try {
      const token = randomBytes(16);
      const accepted = acceptWithToken(server, token);
      const intruder = net.connect(name);
      const intruderClosed = new Promise<void>((r) => intruder.on('close', () => r()).on('error', () => undefined));
      intruder.write(randomBytes(16));
      await intruderClosed;
      const ours = net.connect(name);
      ours.write(token);
      const end = await accepted;
      const got = new Promise<string>((r) => ours.once('data', (d) => r(d.toString())));
      end.write('frames');
      expect(await got).toBe('frames');
      ours.destroy();
      end.destroy();
    } finally {
      server.close();
    }
  });

  it('openStdoutSocket: starts paused; after resume() what is written to the child end reaches onData', async () => {
    const got: string[] = [];
    const s = await openStdoutSocket((c) => {
      got.push(c.toString());
      return true;
    });
    expect(s).toBeDefined();
    s!.childEnd.end('hello');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([]);
    s!.resume();
    await s!.ended;
    s!.destroy();
    expect(got.join('')).toBe('hello');
  });
});

describe.runIf(!linux)('stdout socket', () => {
  it('is not used off Linux (a pipe instead)', async () => {
    expect(await openStdoutSocket(() => undefined)).toBeUndefined();
  });
});
