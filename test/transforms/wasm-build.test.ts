// The committed WebAssembly kernel (src/transforms/wasm/resample.wasm.ts) is what its AssemblyScript source
// compiles to with the pinned compiler: nobody can change one without the other.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without type declarations
import { compileKernel, moduleText } from '../../scripts/build-wasm.mjs';

describe('src/transforms/wasm/resample.wasm.ts', () => {
  it('equals a fresh compile of resample.ts (run npm run build:wasm after changing the source)', () => {
    const committed = readFileSync(fileURLToPath(new URL('../../src/transforms/wasm/resample.wasm.ts', import.meta.url)), 'utf8');
    const fresh = (moduleText as (b: Buffer) => string)((compileKernel as () => Buffer)());
    expect(committed).toBe(fresh);
  }, 120_000);
});
