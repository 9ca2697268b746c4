// The web page: GET / (index.html) with /app.js and /app.css, real files in the package's public/ folder
// served by @fastify/static. The folder sits beside src/ and dist/ (and ships in the package's `files`),
// so the same relative URL finds it from src/server/routes/ (tests) and dist/server/routes/ (the package)
// with no copy step in the build.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { StnetError } from '../../errors.js';

export const PUBLIC_DIR = fileURLToPath(new URL('../../../public/', import.meta.url));

/** No inline script or style and nothing from elsewhere: a strict CSP forbids everything not from this origin. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export default async function pageRoutes(app: FastifyInstance): Promise<void> {
  if (!existsSync(PUBLIC_DIR)) {
    throw new StnetError('E_RUNTIME', `The web page's files are missing (${PUBLIC_DIR}): reinstall the package (public/ ships with it)`);
  }
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    // One route per file found now (no catch-all): any other path gets the API's own 404.
    wildcard: false,
    index: ['index.html'],
    setHeaders: (reply, path) => {
      if (path.endsWith('.html')) void reply.header('content-security-policy', PAGE_CSP);
      // RFC 9239's type (the mime table here still says application/javascript).
      if (path.endsWith('.js')) void reply.header('content-type', 'text/javascript; charset=utf-8');
    },
  });
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
}
