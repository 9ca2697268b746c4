// The import arrows of the house style (../shared/style.md, issue 8): the data flows video -> transforms -> graph,
// surfaces (cli/, server/) are thin and reach models only through the core, and no module imports itself back.
// Read from the sources, so a new import that breaks an arrow fails here with the file and the import named.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

interface Edge {
  readonly from: string;
  readonly to: string;
  /** `import type` / `export type`: erased at compile time, so never part of a load-order cycle. */
  readonly typeOnly: boolean;
}

/** Every relative import of every src/ file, as src-relative module paths ('graph/session.ts'). */
function edges(): Edge[] {
  const files = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => f.split('\\').join('/'));
  const out: Edge[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s*)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const from of files) {
    const text = readFileSync(join(SRC, from), 'utf8');
    for (const m of text.matchAll(re)) {
      const spec = m[3] ?? m[4]!;
      const to = normalize(join(dirname(from), spec)).split('\\').join('/').replace(/\.js$/, '.ts');
      out.push({ from, to, typeOnly: m[2] !== undefined });
    }
  }
  return out;
}

const EDGES = edges();
const under = (path: string, folder: string): boolean => path.startsWith(`${folder}/`);

/** [importer folder, forbidden target (folder or file), why] */
const FORBIDDEN: readonly (readonly [string, string, string])[] = [
  ['cli', 'graph', 'the CLI gets models from the core (stnet.ts, model/)'],
  ['server', 'graph', 'the server gets models from the core (stnet.ts)'],
  ['server', 'weights', 'the server gets models from the core (stnet.ts)'],
  ['server', 'video', 'the server gets models and their errors from the core'],
  ['server', 'model', 'the server gets models from stnet.ts'],
  ...['video', 'transforms'].flatMap((stage) =>
    ['graph', 'weights', 'model', 'stnet.ts', 'classify.ts', 'cli', 'server'].map((t) => [stage, t, 'a data stage imports nothing of the model or the surfaces'] as const),
  ),
  ...['graph', 'weights', 'model'].flatMap((core) => ['cli', 'server'].map((t) => [core, t, 'the core never imports a surface'] as const)),
  ['weights', 'graph', 'weights are read before (and without) the graph'],
  ['weights', 'model', 'weights are read before (and without) the model'],
];

describe('import arrows', () => {
  it('found the imports (the parser works)', () => {
    expect(EDGES.some((e) => e.from === 'stnet.ts' && e.to === 'model/load.ts')).toBe(true);
    expect(EDGES.some((e) => e.from === 'graph/ort-worker.ts' && e.to === 'graph/ort-messages.ts' && e.typeOnly)).toBe(true);
    expect(EDGES.every((e) => !e.to.includes('..'))).toBe(true);
  });

  it.each(FORBIDDEN)('nothing under src/%s/ imports src/%s', (folder, target, why) => {
    const bad = EDGES.filter((e) => under(e.from, folder) && (e.to === target || under(e.to, target)));
    expect(bad.map((e) => `${e.from} -> ${e.to}`), why).toEqual([]);
  });

  it('of the CLI, only `stnet weights` (cli/weights.ts) imports src/weights: the model commands get models from the core', () => {
    const importers = new Set(EDGES.filter((e) => under(e.from, 'cli') && under(e.to, 'weights')).map((e) => e.from));
    expect([...importers]).toEqual(['cli/weights.ts']);
  });

  it('the onnxruntime worker imports nothing of stnet but its message types (it runs the same from dist/ and under vitest)', () => {
    expect(EDGES.filter((e) => e.from === 'graph/ort-worker.ts' && !e.typeOnly).map((e) => e.to)).toEqual([]);
  });

  it('only graph/session.ts and its worker import onnxruntime-node', () => {
    const files = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => f.split('\\').join('/'));
    const importers = files.filter((f) => /from\s+['"]onnxruntime-node['"]/.test(readFileSync(join(SRC, f), 'utf8')));
    expect(importers.sort()).toEqual(['graph/ort-messages.ts', 'graph/ort-worker.ts', 'graph/session.ts']);
  });

  it('no import cycles', () => {
    const graph = new Map<string, string[]>();
    for (const e of EDGES) {
      if (e.typeOnly) continue;
      graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (n: string): void => {
      state.set(n, 'open');
      stack.push(n);
      for (const m of graph.get(n) ?? []) {
        if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m].join(' -> '));
        else if (state.get(m) === undefined) visit(m);
      }
      stack.pop();
      state.set(n, 'done');
    };
    for (const n of graph.keys()) if (state.get(n) === undefined) visit(n);
    expect(cycles).toEqual([]);
  });
});
