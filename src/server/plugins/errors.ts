// Error -> HTTP mapping for the whole app: every error answer is `{ code, message }` with a code of the
// README's table. Refusals before any classification are HttpErrors (their own status); a StnetError
// from a classification gets the status of its kind; fastify's schema validation errors are rewritten
// into the library's option-error template, so a bad `top_k` reads the same here as in the CLI.
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ERROR_CODES, StnetError, invalidOption, isStnetError, type StnetErrorCode } from '../../errors.js';

/** An error answered with a given HTTP status (refusals before any classification happen). */
export class HttpError extends StnetError {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(statusCode: number, code: StnetErrorCode, message: string, headers: Record<string, string> = {}) {
    super(code, message);
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

/** HTTP status for a StnetError code from a classification: the video's fault -> 422, the caller's -> 400. */
export function statusForCode(code: string): number {
  if (code === 'E_INVALID_OPTION') return 400;
  if (code === 'E_CANCELLED' || code === 'E_MODEL_CLOSED') return 503;
  const info = (ERROR_CODES as Record<string, { kind: string } | undefined>)[code];
  if (info?.kind === 'input') return 422;
  return 500;
}

/** The error body every route declares for its 4xx and 5xx replies. */
export const ERROR_REPLY = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const;

type Validation = NonNullable<FastifyError['validation']>[number];

/** What an options object is called in messages, by where it came from. */
const WHERE: Readonly<Record<string, string>> = { querystring: 'query parameter', body: 'field' };

/**
 * A schema validation failure in the option template: `Unknown query parameter "topk"; expected top_k or
 * seg_num`, `Expected integer between 1 and 400 for top_k but received 0`. `input` is the validated object
 * (for the received value); `schema` the object schema it failed, for the names and bounds.
 */
export function optionError(v: Validation, input: unknown, schema: ObjectSchema, where: string): StnetError {
  const names = Object.keys(schema.properties);
  if (v.keyword === 'additionalProperties') {
    const key = String((v.params as { additionalProperty?: unknown }).additionalProperty);
    const expected = names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
    return new HttpError(400, 'E_INVALID_OPTION', `Unknown ${where} ${JSON.stringify(key)}; expected ${expected}`);
  }
  const key = v.instancePath.replace(/^\//, '').split('/')[0] ?? '';
  const prop = schema.properties[key];
  const value = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[key] : undefined;
  if (prop === undefined) return new HttpError(400, 'E_INVALID_OPTION', `Invalid ${where} ${JSON.stringify(key)}: ${v.message ?? 'not accepted'}`);
  if (Array.isArray(value)) return invalidOption(key, 'a single integer', value);
  return invalidOption(key, `${prop.type === 'number' ? 'number' : 'integer'} between ${prop.minimum} and ${prop.maximum}`, value);
}

/** The shape of the option schemas (query string and multipart fields): integers with bounds. */
export interface ObjectSchema {
  readonly type: 'object';
  readonly properties: Readonly<Record<string, { readonly type: string; readonly minimum?: number; readonly maximum?: number; readonly description?: string }>>;
  readonly additionalProperties: false;
}

function toHttpError(err: unknown, request: FastifyRequest): { status: number; code: string; message: string; headers: Record<string, string> } {
  const e = err as Partial<FastifyError> & { message?: unknown };
  if (Array.isArray(e.validation) && e.validation.length > 0) {
    const context = e.validationContext ?? 'querystring';
    const schema = (request.routeOptions.schema as Record<string, unknown> | undefined)?.[context] as ObjectSchema | undefined;
    const input = context === 'querystring' ? request.query : request.body;
    if (schema?.properties !== undefined) err = optionError(e.validation[0]!, input, schema, WHERE[context] ?? context);
  }
  if (err instanceof HttpError) return { status: err.statusCode, code: err.code, message: err.message, headers: { ...err.headers } };
  if (isStnetError(err)) return { status: statusForCode(err.code), code: err.code, message: err.message, headers: {} };
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (status >= 500) return { status, code: 'E_RUNTIME', message: `internal server error: ${message}`, headers: {} };
  // fastify's and multipart's own client errors (bad URL, limits...) keep their status.
  return { status, code: 'E_HTTP', message: `${message}${typeof e.code === 'string' ? ` (${e.code})` : ''}`, headers: {} };
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err, request, reply) => {
    const { status, code, message, headers } = toHttpError(err, request);
    if (status >= 500 && code !== 'E_CANCELLED') request.log.error({ err }, 'request failed');
    void reply.code(status).headers(headers).send({ code, message });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!.slice(0, 200);
    void reply.code(404).send({ code: 'E_HTTP', message: `No route ${request.method} ${path}: see GET / for the page and docs/server.md for the API` });
  });
}

export default fp(errorsPlugin, { name: 'stnet-errors', fastify: '5.x' });
