// A data-only reader for the pickles `fluid.save` / `paddle.static.save` write (docs/reference.md §6a): a dict
// (or OrderedDict) of name -> numpy ndarray, pickle protocols 2 to 5, Python 2 or 3 writers.
//
// Written by hand on purpose. A pickle is a program for a stack machine that may import and call any
// Python global. Of the npm parsers, jpickle (last release 10 years ago) covers protocols 0-2 only, and
// pickleparser 0.2.1 could be limited to an allow-list through its NameResolver, but it decodes every
// string opcode into a JS string and every bytes opcode into a copy: Python 3's protocol-2 weights (like
// the golden file) keep their 133 MB of array data in UTF-8 strings, which would become ~160 MB of JS
// strings plus copies, and numpy reconstruction would still have to be written as resolver callbacks.
// Here nothing is ever executed: the only "callables" are the few globals a numpy array needs, each
// emulated as data; any other global is refused AT THE OPCODE THAT NAMES IT (E_PICKLE_FORBIDDEN), before it
// could be called. Raw array bytes are not copied: they stay ranges of the file's buffer (see tensor.ts
// Blob), including Python 3's protocol-2 `_codecs.encode(<str>, 'latin1')` spelling.
import { StnetError } from '../errors.js';
import { copyBytes, decodeTyped, formatShape, ITEM_SIZE, numelOf, where, blobBytes, type Blob, type DType, type NdArray, type StoredTensor } from './tensor.js';

/** The globals a pickled numpy array dict needs, and nothing else. */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct', // numpy 2 spelling
  'numpy.ndarray',
  'numpy.dtype',
  '_codecs.encode', // Python 3 writing protocol 2: bytes -> _codecs.encode(str, 'latin1')
  'collections.OrderedDict',
  'numpy.core.numeric._frombuffer', // protocol 5: ndarray.__reduce_ex__(5) -> _frombuffer(buffer, dtype, shape, order)
  'numpy._core.numeric._frombuffer',
  // Python 3 writing protocol 2 spells an empty bytes object (an empty array's data) as bytes(); Python 2
  // names the module __builtin__. Only the no-argument call is accepted.
  '__builtin__.bytes',
  'builtins.bytes',
]);

// Strings at most this long are decoded to JS strings at once (keys, dtype codes); longer ones (array data)
// stay ranges of the buffer.
const LAZY_THRESHOLD = 256;
// Module and attribute names of GLOBAL / INST lines are short; longer lines mean a damaged file.
const MAX_LINE = 256;

class PyStr {
  // UTF-8 bytes in the source buffer.
  constructor(readonly offset: number, readonly length: number) {}
}
class PyBytes {
  constructor(readonly blob: Blob) {}
}
class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}
class PyList {
  constructor(readonly items: PyValue[]) {}
}
class PyDict {
  readonly map = new Map<string, PyValue>();
}
class PyGlobal {
  constructor(readonly qualname: string) {}
}
class PyDtype {
  littleEndian = true;
  constructor(readonly dtype: DType, order: string) {
    if (order === '>') this.littleEndian = false;
  }
}
class PyArray {
  dtype: PyDtype | null = null;
  shape: number[] = [];
  fortran = false;
  data: Blob | null = null;
}
type PyValue = null | boolean | number | bigint | string | PyStr | PyBytes | PyTuple | PyList | PyDict | PyGlobal | PyDtype | PyArray;

const NUMPY_DTYPES: Readonly<Record<string, DType>> = {
  b1: 'bool',
  i1: 'int8',
  u1: 'uint8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
};

// Strings that are parts of allowed globals or encodings, never parameter names (for the truncation hint).
const NOT_KEYS = new Set(['latin1', 'latin-1', 'encode', '_codecs', 'collections', 'OrderedDict', 'ndarray', 'dtype', 'numpy', '_reconstruct', '_frombuffer']);

export interface ReadPickleOptions {
  /** The file, for error messages. */
  readonly path?: string;
}

function typeName(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'object') return v.constructor.name.replace(/^Py/, '').toLowerCase();
  return typeof v;
}

class Unpickler {
  private pos = 0;
  private stack: PyValue[] = [];
  private readonly metastack: PyValue[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  private opStart = 0;
  /** The most recent name-like string, to say which parameter a truncated value belonged to. */
  private lastKey: string | undefined;

  constructor(
    private readonly buf: Uint8Array,
    private readonly path: string | undefined,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private corrupt(msg: string): never {
    throw new StnetError('E_WEIGHTS_CORRUPT', `${where(this.path)}bad pickle at byte ${this.opStart}: ${msg}`, { path: this.path });
  }

  private need(n: number, what: string): void {
    const remain = this.buf.length - this.pos;
    if (n > remain) {
      const param = this.lastKey === undefined ? '' : ` (reading parameter ${this.lastKey})`;
      throw new StnetError(
        'E_WEIGHTS_TRUNCATED',
        `${where(this.path)}weights file truncated: pickle ${what} at byte ${this.opStart}${param} needs ${n} bytes, ${remain} remain`,
        { path: this.path },
      );
    }
  }

  private u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }
  private u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  private u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private u64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.need(Number.MAX_SAFE_INTEGER, what);
    return Number(v);
  }
  private line(what: string): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) this.need(this.buf.length - this.pos + 1, what);
    if (end - this.pos > MAX_LINE) this.corrupt(`${what} longer than ${MAX_LINE} bytes`);
    const s = String.fromCharCode(...this.buf.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private pop(): PyValue {
    if (this.stack.length === 0) this.corrupt('stack underflow');
    return this.stack.pop()!;
  }
  private popMark(): PyValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (prev === undefined) this.corrupt('MARK expected');
    this.stack = prev;
    return items;
  }

  private pushStr(length: number, what: string): void {
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    if (length <= LAZY_THRESHOLD) {
      let s: string;
      try {
        s = this.utf8.decode(this.buf.subarray(start, start + length));
      } catch {
        this.corrupt('string is not valid UTF-8');
      }
      this.noteKey(s);
      this.stack.push(s);
    } else {
      this.stack.push(new PyStr(start, length));
    }
  }
  private noteKey(s: string): void {
    if (s.length >= 3 && !NOT_KEYS.has(s) && !s.startsWith('numpy.')) this.lastKey = s;
  }

  private pushBytes(length: number, what: string): void {
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    // Python 2 keys are byte strings: remember printable ones as the truncation hint too.
    if (length <= 64) {
      const b = this.buf.subarray(start, start + length);
      if (b.every((c) => c > 0x20 && c < 0x7f)) this.noteKey(String.fromCharCode(...b));
    }
    this.stack.push(new PyBytes(length <= LAZY_THRESHOLD ? { kind: 'bytes', bytes: copyBytes(this.buf, start, start + length) } : { kind: 'range', offset: start, length }));
  }

  private checkGlobal(module: string, name: string): PyGlobal {
    const qualname = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(qualname)) {
      throw new StnetError(
        'E_PICKLE_FORBIDDEN',
        `${where(this.path)}pickle refers to the Python global ${qualname} (at byte ${this.opStart}); a weights file only needs numpy arrays, ` +
          'so it was refused and nothing was run. Do not use this file: get the weights from a trusted source.',
        { path: this.path },
      );
    }
    return new PyGlobal(qualname);
  }

  private asString(v: PyValue, what: string): string {
    if (typeof v === 'string') return v;
    if (v instanceof PyStr) {
      try {
        return this.utf8.decode(this.buf.subarray(v.offset, v.offset + v.length));
      } catch {
        this.corrupt(`${what} is not valid UTF-8`);
      }
    }
    // Python 2 `str` keys arrive as bytes (SHORT_BINSTRING): latin-1 is what Python's encoding='latin1' gives.
    if (v instanceof PyBytes && v.blob.kind !== 'latin1-utf8') {
      const b = v.blob.kind === 'bytes' ? v.blob.bytes : this.buf.subarray(v.blob.offset, v.blob.offset + v.blob.length);
      if (b.length <= 65536) return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
    }
    return this.corrupt(`${what} should be a string, got ${typeName(v)}`);
  }

  private asShape(v: PyValue, what: string): number[] {
    const items = v instanceof PyTuple || v instanceof PyList ? v.items : null;
    if (items === null) this.corrupt(`${what} should be a tuple, got ${typeName(v)}`);
    return items.map((d) => {
      const n = typeof d === 'bigint' ? Number(d) : d;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) this.corrupt(`${what} has a bad dimension ${String(d)}`);
      return n;
    });
  }

  private asBlob(v: PyValue, what: string): Blob {
    if (v instanceof PyBytes) return v.blob;
    return this.corrupt(`${what} should be bytes, got ${typeName(v)} (object arrays are not supported)`);
  }

  private makeDtype(code: string): PyDtype {
    const m = /^([<>=|]?)([a-z]\d+)$/.exec(code);
    const dtype = m === null ? undefined : NUMPY_DTYPES[m[2]!];
    if (m === null || dtype === undefined) {
      this.corrupt(`unsupported numpy dtype '${code}' (supported: ${Object.keys(NUMPY_DTYPES).join(', ')})`);
    }
    return new PyDtype(dtype, m[1]!);
  }

  private reduce(fn: PyValue, args: PyValue): PyValue {
    if (!(fn instanceof PyGlobal)) this.corrupt(`REDUCE on ${typeName(fn)}, not a global`);
    if (!(args instanceof PyTuple)) this.corrupt(`REDUCE arguments should be a tuple, got ${typeName(args)}`);
    const a = args.items;
    switch (fn.qualname) {
      case 'numpy.core.multiarray._reconstruct':
      case 'numpy._core.multiarray._reconstruct':
        if (!(a[0] instanceof PyGlobal) || a[0].qualname !== 'numpy.ndarray') this.corrupt('_reconstruct of something other than numpy.ndarray');
        return new PyArray();
      case 'numpy.dtype':
        return this.makeDtype(this.asString(a[0] ?? null, 'dtype code'));
      case '_codecs.encode': {
        const enc = a[1] === undefined ? 'utf-8' : this.asString(a[1], 'encoding');
        if (enc !== 'latin1' && enc !== 'latin-1') this.corrupt(`_codecs.encode with encoding ${enc}, expected latin1`);
        const s = a[0] ?? null;
        if (s instanceof PyStr) return new PyBytes({ kind: 'latin1-utf8', offset: s.offset, length: s.length });
        const str = this.asString(s, '_codecs.encode argument');
        const bytes = new Uint8Array(str.length);
        for (let i = 0; i < str.length; i++) {
          const c = str.charCodeAt(i);
          if (c > 0xff) this.corrupt('_codecs.encode argument is not latin-1');
          bytes[i] = c;
        }
        return new PyBytes({ kind: 'bytes', bytes });
      }
      case 'collections.OrderedDict': {
        const d = new PyDict();
        // Python 2 pickles OrderedDict as OrderedDict([[key, value], ...]).
        const items = a[0];
        if (items instanceof PyList || items instanceof PyTuple) {
          for (const pair of items.items) {
            if (!(pair instanceof PyList || pair instanceof PyTuple) || pair.items.length !== 2) this.corrupt('OrderedDict item is not a pair');
            d.map.set(this.asString(pair.items[0]!, 'dict key'), pair.items[1]!);
          }
        }
        return d;
      }
      case '__builtin__.bytes':
      case 'builtins.bytes':
        if (a.length !== 0) this.corrupt(`${fn.qualname} called with arguments`);
        return new PyBytes({ kind: 'bytes', bytes: new Uint8Array(0) });
      case 'numpy.core.numeric._frombuffer':
      case 'numpy._core.numeric._frombuffer': {
        const arr = new PyArray();
        arr.data = this.asBlob(a[0] ?? null, '_frombuffer buffer');
        if (!(a[1] instanceof PyDtype)) this.corrupt('_frombuffer dtype is not a numpy.dtype');
        arr.dtype = a[1];
        arr.shape = this.asShape(a[2] ?? null, '_frombuffer shape');
        arr.fortran = this.asString(a[3] ?? 'C', '_frombuffer order') === 'F';
        return arr;
      }
      default:
        return this.corrupt(`cannot call ${fn.qualname}`);
    }
  }

  private build(obj: PyValue, state: PyValue): void {
    if (obj instanceof PyArray) {
      if (!(state instanceof PyTuple)) this.corrupt(`ndarray state should be a tuple, got ${typeName(state)}`);
      // numpy's __setstate__: (version, shape, dtype, is_fortran, data) or, older, without the version.
      const s = state.items.length === 5 ? state.items.slice(1) : state.items;
      if (s.length !== 4) this.corrupt(`ndarray state has ${state.items.length} items, expected 4 or 5`);
      obj.shape = this.asShape(s[0]!, 'ndarray shape');
      if (!(s[1] instanceof PyDtype)) this.corrupt('ndarray dtype is not a numpy.dtype');
      obj.dtype = s[1];
      obj.fortran = s[2] === true || s[2] === 1;
      obj.data = this.asBlob(s[3]!, 'ndarray data');
    } else if (obj instanceof PyDtype) {
      if (!(state instanceof PyTuple)) this.corrupt('dtype state should be a tuple');
      // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
      const order = this.asString(state.items[1] ?? '<', 'dtype byte order');
      if (order === '>') obj.littleEndian = false;
      else if (order === '<' || order === '|' || order === '=') obj.littleEndian = true;
      if (state.items[2] !== null && state.items[2] !== undefined) this.corrupt('sub-array dtypes are not supported');
      if (state.items[3] !== null && state.items[3] !== undefined) this.corrupt('structured dtypes are not supported');
    } else if (obj instanceof PyDict) {
      // OrderedDict's instance __dict__ (None or empty in practice): nothing to keep.
    } else {
      this.corrupt(`BUILD on ${typeName(obj)}`);
    }
  }

  private setItems(dict: PyValue, items: PyValue[]): void {
    if (!(dict instanceof PyDict)) this.corrupt(`SETITEM(S) on ${typeName(dict)}`);
    if (items.length % 2 !== 0) this.corrupt('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) dict.map.set(this.asString(items[i]!, 'dict key'), items[i + 1]!);
  }

  run(): PyValue {
    const buf = this.buf;
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= buf.length) this.need(1, 'STOP opcode');
      const op = buf[this.pos++]!;
      switch (op) {
        case 0x80: {
          const proto = this.u8('PROTO');
          if (proto < 2 || proto > 5) this.corrupt(`unsupported pickle protocol ${proto} (supported: 2 to 5)`);
          break;
        }
        case 0x95: // FRAME: only a hint for buffered readers
          this.u64('FRAME');
          break;
        case 0x2e: // STOP
          return this.pop();
        case 0x28: // MARK
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case 0x30: // POP
          this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.stack.push(this.stack[this.stack.length - 1] ?? this.corrupt('DUP on an empty stack'));
          break;
        case 0x4e: // NONE
          this.stack.push(null);
          break;
        case 0x88:
          this.stack.push(true);
          break;
        case 0x89:
          this.stack.push(false);
          break;
        case 0x4a: // BININT
          this.need(4, 'BININT');
          this.stack.push(this.view.getInt32(this.pos, true));
          this.pos += 4;
          break;
        case 0x4b: // BININT1
          this.stack.push(this.u8('BININT1'));
          break;
        case 0x4d: // BININT2
          this.stack.push(this.u16('BININT2'));
          break;
        case 0x8a: // LONG1
        case 0x8b: {
          // LONG4
          const n = op === 0x8a ? this.u8('LONG1') : this.u32('LONG4');
          if (n > 64) this.corrupt(`integer of ${n} bytes`);
          this.need(n, 'LONG');
          let v = 0n;
          for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[this.pos + i]!);
          if (n > 0 && buf[this.pos + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
          this.pos += n;
          this.stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
          break;
        }
        case 0x47: // BINFLOAT (big-endian)
          this.need(8, 'BINFLOAT');
          this.stack.push(this.view.getFloat64(this.pos, false));
          this.pos += 8;
          break;
        case 0x8c:
          this.pushStr(this.u8('SHORT_BINUNICODE'), 'SHORT_BINUNICODE');
          break;
        case 0x58:
          this.pushStr(this.u32('BINUNICODE'), 'BINUNICODE');
          break;
        case 0x8d:
          this.pushStr(this.u64('BINUNICODE8'), 'BINUNICODE8');
          break;
        case 0x55: // SHORT_BINSTRING (Python 2 str: raw bytes)
          this.pushBytes(this.u8('SHORT_BINSTRING'), 'SHORT_BINSTRING');
          break;
        case 0x54: {
          const n = this.u32('BINSTRING');
          if (n >= 0x80000000) this.corrupt('negative BINSTRING length');
          this.pushBytes(n, 'BINSTRING');
          break;
        }
        case 0x43:
          this.pushBytes(this.u8('SHORT_BINBYTES'), 'SHORT_BINBYTES');
          break;
        case 0x42:
          this.pushBytes(this.u32('BINBYTES'), 'BINBYTES');
          break;
        case 0x8e:
          this.pushBytes(this.u64('BINBYTES8'), 'BINBYTES8');
          break;
        case 0x96:
          this.pushBytes(this.u64('BYTEARRAY8'), 'BYTEARRAY8');
          break;
        case 0x97:
        case 0x98:
          this.corrupt(
            `${op === 0x97 ? 'NEXT_BUFFER' : 'READONLY_BUFFER'}: protocol 5 out-of-band buffers are not supported; ` +
              're-save the weights with pickle.dump(obj, f, protocol=5) without buffer_callback (in-band), or with protocol 4',
          );
          break;
        case 0x29:
          this.stack.push(new PyTuple([]));
          break;
        case 0x74: {
          // popMark replaces this.stack: pop first, then push (not this.stack.push(f(popMark()))).
          const items = this.popMark();
          this.stack.push(new PyTuple(items));
          break;
        }
        case 0x85:
          this.stack.push(new PyTuple([this.pop()]));
          break;
        case 0x86: {
          const b = this.pop();
          this.stack.push(new PyTuple([this.pop(), b]));
          break;
        }
        case 0x87: {
          const c = this.pop();
          const b = this.pop();
          this.stack.push(new PyTuple([this.pop(), b, c]));
          break;
        }
        case 0x5d:
          this.stack.push(new PyList([]));
          break;
        case 0x6c: {
          const items = this.popMark();
          this.stack.push(new PyList(items));
          break;
        }
        case 0x61: {
          const v = this.pop();
          const list = this.stack[this.stack.length - 1];
          if (!(list instanceof PyList)) this.corrupt(`APPEND to ${typeName(list ?? null)}`);
          list.items.push(v);
          break;
        }
        case 0x65: {
          const items = this.popMark();
          const list = this.stack[this.stack.length - 1];
          if (!(list instanceof PyList)) this.corrupt(`APPENDS to ${typeName(list ?? null)}`);
          // A loop, not push(...items): a long batch would overflow the argument limit.
          for (const item of items) list.items.push(item);
          break;
        }
        case 0x7d:
          this.stack.push(new PyDict());
          break;
        case 0x64: {
          const d = new PyDict();
          this.setItems(d, this.popMark());
          this.stack.push(d);
          break;
        }
        case 0x73: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.stack[this.stack.length - 1] ?? null, [k, v]);
          break;
        }
        case 0x75: {
          const items = this.popMark();
          this.setItems(this.stack[this.stack.length - 1] ?? null, items);
          break;
        }
        case 0x63: {
          // GLOBAL "module\nname\n": checked here, before anything could use it.
          const module = this.line('GLOBAL module');
          const name = this.line('GLOBAL name');
          this.stack.push(this.checkGlobal(module, name));
          break;
        }
        case 0x93: {
          const name = this.asString(this.pop(), 'STACK_GLOBAL name');
          const module = this.asString(this.pop(), 'STACK_GLOBAL module');
          this.stack.push(this.checkGlobal(module, name));
          break;
        }
        case 0x69: {
          // INST "module\nname\n" (protocol 0/1 object creation): refuse like any call of a global.
          const module = this.line('INST module');
          const name = this.line('INST name');
          this.checkGlobal(module, name);
          this.corrupt(`INST opcode (protocol 0/1) for ${module}.${name} is not supported`);
          break;
        }
        case 0x52: {
          const args = this.pop();
          const fn = this.pop();
          this.stack.push(this.reduce(fn, args));
          break;
        }
        case 0x81: {
          // NEWOBJ cls.__new__(cls, *args): only OrderedDict can appear in a weights dict.
          const args = this.pop();
          const cls = this.pop();
          if (!(cls instanceof PyGlobal) || cls.qualname !== 'collections.OrderedDict') this.corrupt(`NEWOBJ of ${cls instanceof PyGlobal ? cls.qualname : typeName(cls)}`);
          if (!(args instanceof PyTuple)) this.corrupt('NEWOBJ arguments should be a tuple');
          this.stack.push(this.reduce(cls, new PyTuple([])));
          break;
        }
        case 0x62: {
          const state = this.pop();
          this.build(this.stack[this.stack.length - 1] ?? null, state);
          break;
        }
        case 0x71:
          this.memo.set(this.u8('BINPUT'), this.stack[this.stack.length - 1] ?? this.corrupt('BINPUT on an empty stack'));
          break;
        case 0x72:
          this.memo.set(this.u32('LONG_BINPUT'), this.stack[this.stack.length - 1] ?? this.corrupt('LONG_BINPUT on an empty stack'));
          break;
        case 0x94:
          this.memo.set(this.memo.size, this.stack[this.stack.length - 1] ?? this.corrupt('MEMOIZE on an empty stack'));
          break;
        case 0x68:
        case 0x6a: {
          const i = op === 0x68 ? this.u8('BINGET') : this.u32('LONG_BINGET');
          if (!this.memo.has(i)) this.corrupt(`memo entry ${i} does not exist`);
          this.stack.push(this.memo.get(i)!);
          break;
        }
        case 0x70:
        case 0x67: {
          // Text PUT/GET (protocol 0/1, but Python 2's cPickle may mix them in).
          const i = Number(this.line(op === 0x70 ? 'PUT' : 'GET'));
          if (!Number.isSafeInteger(i)) this.corrupt('bad memo index');
          if (op === 0x70) this.memo.set(i, this.stack[this.stack.length - 1] ?? this.corrupt('PUT on an empty stack'));
          else if (this.memo.has(i)) this.stack.push(this.memo.get(i)!);
          else this.corrupt(`memo entry ${i} does not exist`);
          break;
        }
        case 0x82:
        case 0x83:
        case 0x84:
          throw new StnetError(
            'E_PICKLE_FORBIDDEN',
            `${where(this.path)}pickle uses the copyreg extension registry (EXT opcode at byte ${this.opStart}), which names arbitrary globals; refused, nothing was run`,
            { path: this.path },
          );
        case 0x50:
        case 0x51:
          this.corrupt('persistent ids (PERSID) are not supported in a weights file');
          break;
        default:
          this.corrupt(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }
}

/**
 * Parses a pickled dict of numpy arrays into format-neutral tensors (insertion order), without copying
 * array data: blobs point into `buf`. Non-array values are refused, except Paddle 2's
 * `StructuredToParameterName@@` name map, which is skipped.
 */
export function readPickle(buf: Uint8Array, opts: ReadPickleOptions = {}): StoredTensor[] {
  const path = opts.path;
  let top: PyValue;
  try {
    top = new Unpickler(buf, path).run();
  } catch (err) {
    if (err instanceof StnetError) throw err;
    // Anything else is a shape of data the interpreter did not foresee: still a bad file, not a crash.
    throw new StnetError('E_WEIGHTS_CORRUPT', `${where(path)}bad pickle: ${(err as Error).message}`, { cause: err, path });
  }
  if (!(top instanceof PyDict)) {
    throw new StnetError('E_WEIGHTS_CORRUPT', `${where(path)}pickle holds a ${typeName(top)}, expected a dict of numpy arrays`, { path });
  }
  const out: StoredTensor[] = [];
  for (const [name, v] of top.map) {
    if (name === 'StructuredToParameterName@@' && v instanceof PyDict) continue;
    if (!(v instanceof PyArray) || v.dtype === null || v.data === null) {
      throw new StnetError('E_WEIGHTS_CORRUPT', `${where(path)}pickle entry ${name} is a ${typeName(v)}, expected a numpy array`, { path });
    }
    const need = numelOf(v.shape) * ITEM_SIZE[v.dtype.dtype];
    const have = v.data.kind === 'bytes' ? v.data.bytes.length : v.data.length;
    // latin1-utf8 blobs are checked after decoding (their UTF-8 length is not the byte count).
    if (v.data.kind !== 'latin1-utf8' ? have !== need : have < need) {
      throw new StnetError(
        'E_WEIGHTS_CORRUPT',
        `${where(path)}pickle entry ${name}: ${v.dtype.dtype} ${formatShape(v.shape)} needs ${need} data bytes, the pickle holds ${have}`,
        { path },
      );
    }
    out.push({ name, dtype: v.dtype.dtype, shape: v.shape, littleEndian: v.dtype.littleEndian, fortran: v.fortran, blob: v.data });
  }
  return out;
}

/** Generic use: a pickled dict of numpy arrays, each decoded to its own typed array (C order). */
export function readPickleArrays(buf: Uint8Array, opts: ReadPickleOptions = {}): Map<string, NdArray> {
  const out = new Map<string, NdArray>();
  for (const t of readPickle(buf, opts)) {
    const bytes = blobBytes(buf, t.blob, `pickle entry ${t.name}`, opts.path);
    const need = numelOf(t.shape) * ITEM_SIZE[t.dtype];
    if (bytes.length !== need) {
      throw new StnetError('E_WEIGHTS_CORRUPT', `${where(opts.path)}pickle entry ${t.name}: needs ${need} data bytes, holds ${bytes.length}`, { path: opts.path });
    }
    out.set(t.name, decodeTyped(bytes, t.dtype, t.shape, t.littleEndian, t.fortran));
  }
  return out;
}
