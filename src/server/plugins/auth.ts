// Optional bearer token. The plugin decorates the app with `requireToken`, an onRequest hook the routes that
// need it list (classification and /metrics); the page, its assets and /healthz stay open.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { invalidOption } from '../../errors.js';
import { HttpError } from './errors.js';

export interface AuthOptions {
  /** When set, routes with the `requireToken` hook need `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: 401 unless the request carries the server's token (a no-op without one). */
    requireToken: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** Whether this server was started with a token. */
    readonly authRequired: boolean;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

async function authPlugin(app: FastifyInstance, opts: AuthOptions): Promise<void> {
  if (opts.token !== undefined && (typeof opts.token !== 'string' || opts.token.length === 0)) throw invalidOption('token', 'non-empty string', opts.token);
  const expected = opts.token === undefined ? undefined : digest(opts.token);
  app.decorate('authRequired', expected !== undefined);
  app.decorate('requireToken', async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected === undefined) return;
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    // Compare digests so the comparison takes the same time whatever the token's length.
    if (m === null || !timingSafeEqual(digest(m[1]!), expected)) {
      void reply.header('www-authenticate', 'Bearer realm="stnet"');
      throw new HttpError(
        401,
        'E_HTTP',
        m === null ? 'This server needs a token: send the header "Authorization: Bearer <token>"' : 'Wrong token: send the token the server was started with (--token)',
      );
    }
  });
}

export default fp(authPlugin, { name: 'stnet-auth', fastify: '5.x' });
