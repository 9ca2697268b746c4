// Cutting ffmpeg's rawvideo output (stdout chunks of any size) into whole RGB frames: one job shared by the file
// decoder (decode.ts: sampled frames of a file) and the stream reader (stream.ts: every frame of a stream).
// One frame buffer, reused: a frame yielded is valid until the generator is resumed.
import type { RgbImage } from '../transforms/resize.js';

export class FrameAssembler {
  readonly image: RgbImage;
  private readonly frameBytes: number;
  private fill = 0;

  /** `buffer`: where frames are assembled (e.g. the resize kernel's input memory); default a new one. */
  constructor(width: number, height: number, buffer?: Uint8Array) {
    this.frameBytes = width * height * 3;
    const data = buffer ?? new Uint8Array(this.frameBytes);
    if (data.length !== this.frameBytes) throw new RangeError(`FrameAssembler: the buffer has ${data.length} bytes, ${width}x${height} RGB frames have ${this.frameBytes}`);
    this.image = { width, height, data };
  }

  /** Copies `chunk` in, yielding the image each time a frame is complete (the same object and buffer each time). */
  *feed(chunk: Uint8Array): Generator<RgbImage, void, undefined> {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.fill, chunk.length - off);
      const part = chunk.subarray(off, off + n);
      const data = this.image.data;
      // A reader that read into writable() has put the bytes in place already.
      if (part.buffer !== data.buffer || part.byteOffset !== data.byteOffset + this.fill) data.set(part, this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.frameBytes) {
        this.fill = 0;
        yield this.image;
      }
    }
  }

  /**
   * Where the frame's next bytes go. A reader may read into it directly (stdout-socket.ts): fed back as the chunk,
   * they are then not copied (for the 720p test clip, 125 frames of 2.7 MB each).
   */
  writable(): Uint8Array {
    return this.image.data.subarray(this.fill);
  }

  /** Bytes of a frame begun but not finished: non-zero when the output ends means it was cut inside a frame. */
  get partialBytes(): number {
    return this.fill;
  }
}
