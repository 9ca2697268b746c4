// docs/server.md against the code: the query-string table against the routes' JSON schema, the endpoint
// table against the routes the app registers, the file table against src/server/{plugins,routes}; and the
// package ships the page's static files.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { HTTPMethods } from 'fastify';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server/app.js';
import { CLASSIFY_QUERY, CLASSIFY_SCHEMAS } from '../../src/server/routes/classify.js';
import { TIMELINE_QUERY, TIMELINE_SCHEMAS } from '../../src/server/routes/timeline.js';
import { FakeWorker } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = readFileSync(`${ROOT}docs/server.md`, 'utf8');

/** Rows of the markdown table whose header line starts with `header`. */
function table(header: string): string[][] {
  const lines = DOC.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  expect(start, `table "${header}" in docs/server.md`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}

describe('docs/server.md matches the server', () => {
  it('the query-string table lists exactly the schema properties, with their types and bounds', () => {
    const rows = table('| name | type | min | max | default |');
    const documented = rows.map(([name, type, min, max]) => ({ name: name!.replace(/`/g, ''), type, min: Number(min), max: Number(max) }));
    const schema = Object.entries(CLASSIFY_QUERY.properties).map(([name, p]) => ({ name, type: p.type, min: p.minimum, max: p.maximum }));
    expect(documented).toEqual(schema);
    expect(CLASSIFY_QUERY.additionalProperties).toBe(false);
  });

  it('the timeline query table lists exactly TIMELINE_QUERY, with its types and bounds', () => {
    const rows = table('| timeline name | type | min | max | default |');
    const documented = rows.map(([name, type, min, max]) => ({ name: name!.replace(/`/g, ''), type, min: Number(min), max: Number(max) }));
    const schema = Object.entries(TIMELINE_QUERY.properties).map(([name, p]) => ({ name, type: p.type, min: p.minimum, max: p.maximum }));
    expect(documented).toEqual(schema);
    expect(TIMELINE_QUERY.additionalProperties).toBe(false);
  });

  it('every documented endpoint is a route of the app, and every classification route is documented', async () => {
    const app = await buildServer({ workers: [new FakeWorker()] });
    try {
      const endpoints = table('| method, path | auth | what |').map(([cell]) => cell!);
      const routes: Array<{ method: HTTPMethods; url: string }> = [];
      for (const cell of endpoints) {
        for (const m of cell.matchAll(/`(GET|POST) (\/[^`]*)`|`(\/[^`]+)`/g)) {
          const method = (m[1] ?? 'GET') as HTTPMethods;
          routes.push({ method, url: m[2] ?? m[3]! });
        }
      }
      expect(routes.length).toBeGreaterThanOrEqual(7);
      for (const r of routes) expect(app.hasRoute(r), `${r.method} ${r.url}`).toBe(true);
      for (const url of [...Object.keys(CLASSIFY_SCHEMAS), ...Object.keys(TIMELINE_SCHEMAS)]) expect(routes).toContainEqual({ method: 'POST', url });
    } finally {
      await app.close();
    }
  });

  it('the file table lists every plugin and route file, and only those', () => {
    const documented = table('| file | what |').map(([f]) => f!.replace(/`/g, '')).sort();
    const files = ['plugins', 'routes'].flatMap((d) => readdirSync(`${ROOT}src/server/${d}`).map((f) => `${d}/${f}`)).sort();
    expect(documented).toEqual(files);
  });
});

describe('the package', () => {
  it('ships the page (public/) that the built server serves', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const name of readdirSync(`${ROOT}public`)) expect(files).toContain(`public/${name}`);
    expect(files).toContain('dist/server/routes/page.js');
  });
});
