// Format detection from the first bytes, never from the file name: `STNET_final.pdparams` is a LoDTensor
// stream despite its suffix, and downloads get renamed. 512 bytes are enough for every signature.

export type WeightsFormat = 'pickle' | 'lodtensor' | 'gzip' | 'tar' | 'zip' | 'text' | 'empty' | 'unknown';

export interface Detection {
  readonly format: WeightsFormat;
  /** Pickle protocol (byte after 0x80). */
  readonly protocol?: number;
  /** For text and unknown: the start of the file, printable, for messages. */
  readonly preview?: string;
}

/** Bytes to read for detectFormat. */
export const DETECT_BYTES = 512;

function preview(head: Uint8Array): string {
  let s = '';
  for (let i = 0; i < Math.min(head.length, 40); i++) {
    const b = head[i]!;
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : b === 0x0a ? '\\n' : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return s;
}

function looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  for (const b of head) {
    // Printable ASCII, whitespace, or UTF-8 lead/continuation bytes; no NUL or other control bytes.
    if (b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b !== 0x7f)) continue;
    return false;
  }
  return true;
}

export function detectFormat(head: Uint8Array): Detection {
  if (head.length === 0) return { format: 'empty' };
  if (head[0] === 0x80) return head.length >= 2 ? { format: 'pickle', protocol: head[1]! } : { format: 'pickle' };
  if (head[0] === 0x1f && head[1] === 0x8b) return { format: 'gzip' };
  if (head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar') return { format: 'tar' };
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return { format: 'zip' };
  // LoDTensor: uint32 version 0, then uint64 lod_level (0 for parameters; a handful at most).
  if (head.subarray(0, 4).every((b) => b === 0)) {
    if (head.length < 12 || (head[4]! < 16 && head.subarray(5, 12).every((b) => b === 0))) return { format: 'lodtensor' };
  }
  if (looksLikeText(head)) return { format: 'text', preview: preview(head) };
  return { format: 'unknown', preview: preview(head) };
}
