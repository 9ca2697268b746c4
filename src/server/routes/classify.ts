// POST /predict/stnet_kinetics400 (PaddleHub's envelope) and POST /v1/classify (the plain VideoResult).
//
// A request goes: token (401) -> content type and declared size (415, 413) -> query schema (400) -> a queue
// slot (429) -> the body streamed to a private temp file (408, 413; multipart fields in any order, checked
// against their schema) -> a free worker -> reply. What it holds (slot, temp file) is released in one
// `finally`, and a client that goes away aborts its job's signal (a queued job leaves the queue at once; a
// running decode is killed).
import { rm } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CLASSIFY_LIMITS } from '../../classify.js';
import { StnetError, isStnetError, type StnetErrorCode } from '../../errors.js';
import type { ServerVideoResult } from '../classifier.js';
import { cancelled } from '../queue.js';
import { ERROR_REPLY, HttpError, optionError, statusForCode, type ObjectSchema } from '../plugins/errors.js';
import { uploadPath, type Upload } from '../plugins/uploads.js';

const OPTION_PROPERTIES = {
  top_k: { type: 'integer', minimum: CLASSIFY_LIMITS.topK[0], maximum: CLASSIFY_LIMITS.topK[1], description: 'labels in the answer (default 5, or the server\'s)' },
  seg_num: { type: 'integer', minimum: CLASSIFY_LIMITS.segNum[0], maximum: CLASSIFY_LIMITS.segNum[1], description: 'segments sampled from the video (default the server\'s)' },
} as const;

/** The query string: the per-request options, under their snake_case names; anything else is refused. */
export const CLASSIFY_QUERY = { type: 'object', properties: OPTION_PROPERTIES, additionalProperties: false } as const satisfies ObjectSchema;

/** Multipart fields besides the file: the same options, or `options` holding their JSON. */
export const CLASSIFY_FIELDS = {
  type: 'object',
  properties: { ...OPTION_PROPERTIES, options: { type: 'string', description: 'JSON object of top_k and/or seg_num' } },
  additionalProperties: false,
} as const satisfies ObjectSchema;

const PREDICTION = {
  type: 'object',
  properties: { label: { type: 'string' }, index: { type: 'integer' }, prob: { type: 'number' } },
  required: ['label', 'index', 'prob'],
} as const;

/** A successful VideoResult (failures answer an error status). Extra properties pass through unchanged. */
export const VIDEO_RESULT = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    ok: { type: 'boolean' },
    predictions: { type: 'array', items: PREDICTION },
    timing: { type: 'object', properties: { decodeMs: { type: 'number' }, inferMs: { type: 'number' } }, additionalProperties: true },
  },
  required: ['path', 'ok', 'predictions', 'timing'],
  additionalProperties: true,
} as const;

const ERRORS = { '4xx': ERROR_REPLY, '5xx': ERROR_REPLY } as const;

/** Route schemas by path, for the docs test and anyone listing the API. */
export const CLASSIFY_SCHEMAS = {
  '/predict/stnet_kinetics400': {
    querystring: CLASSIFY_QUERY,
    response: {
      200: { type: 'object', properties: { status: { type: 'string' }, msg: { type: 'string' }, results: { type: 'array', items: VIDEO_RESULT } }, required: ['status', 'msg', 'results'] },
      ...ERRORS,
    },
  },
  '/v1/classify': { querystring: CLASSIFY_QUERY, response: { 200: VIDEO_RESULT, ...ERRORS } },
} as const;

interface RequestOptions {
  topK: number;
  segNum: number | undefined;
}

interface Query {
  top_k?: number;
  seg_num?: number;
}

export default async function classifyRoutes(app: FastifyInstance): Promise<void> {
  const { stnet, uploads } = app;

  /** One option object checked against `schema` by fastify's validator (coercing numeric strings). */
  const check = (request: FastifyRequest, input: Record<string, unknown>, schema: ObjectSchema, where: string): Query => {
    const validate = request.compileValidationSchema(schema);
    if (!validate(input)) throw optionError(validate.errors![0]!, input, schema, where);
    return input as Query;
  };

  /** The multipart fields over the query's options: `options` JSON first, then the single fields. */
  const withFields = (request: FastifyRequest, base: RequestOptions, fields: Upload['fields']): RequestOptions => {
    const flat: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) flat[k] = v.length === 1 ? v[0] : [...v];
    const { top_k, seg_num } = check(request, flat, CLASSIFY_FIELDS, 'multipart field');
    const opts = { ...base };
    if (typeof flat.options === 'string') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(flat.options);
      } catch {
        throw new HttpError(400, 'E_INVALID_OPTION', 'The multipart field "options" is not JSON: send e.g. {"top_k": 5, "seg_num": 25}');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new HttpError(400, 'E_INVALID_OPTION', `Expected JSON object for options but received ${flat.options}`);
      }
      const o = check(request, parsed as Record<string, unknown>, CLASSIFY_QUERY, 'option');
      if (o.top_k !== undefined) opts.topK = o.top_k;
      if (o.seg_num !== undefined) opts.segNum = o.seg_num;
    }
    if (top_k !== undefined) opts.topK = top_k;
    if (seg_num !== undefined) opts.segNum = seg_num;
    return opts;
  };

  const classify = async (request: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply): Promise<ServerVideoResult> => {
    const kind = app.checkUploadHeaders(request);
    // After the schema checks (a bad option is a 400 even when the server is full).
    stnet.admit(request, reply);
    const job = request.job!;
    const path = uploadPath(uploads.dir);
    const t0 = performance.now();
    // How the client named its video, for every message; the server's temp path never shows.
    let name: string | undefined;
    const scrub = (message: string): string => {
      const shown = name === undefined ? 'the upload' : JSON.stringify(name);
      // ffprobe/ffmpeg start their own lines with the input they read ("file:<path>: Invalid data..."):
      // that prefix only repeats the name, so it goes.
      return message.split(`file:${path}: `).join('').split(`${path}: `).join('').split(`file:${path}`).join(shown).split(path).join(shown).split(uploads.dir).join('<upload dir>');
    };
    try {
      let opts: RequestOptions = { topK: request.query.top_k ?? stnet.topK, segNum: request.query.seg_num };
      const upload = await request.receiveUpload(kind, path, job.signal);
      name = upload.name;
      if (kind === 'multipart') opts = withFields(request, opts, upload.fields);
      if (upload.bytes === 0) throw new HttpError(422, 'E_VIDEO_EMPTY', 'The uploaded video is empty (0 bytes): send the file\'s contents as the body');
      const tUploaded = performance.now();
      let tStarted = tUploaded;
      const result = await stnet.queue.run(job.signal, (worker) => {
        tStarted = performance.now();
        return worker.classify(path, { topK: opts.topK, segNum: opts.segNum, signal: job.signal });
      });
      stnet.metrics.videos.inc({ result: result.ok ? 'ok' : result.error.code });
      if (!result.ok) throw new HttpError(statusForCode(result.error.code), result.error.code as StnetErrorCode, scrub(result.error.message));
      void reply.header(
        'server-timing',
        `upload;dur=${ms(tUploaded - t0)}, queue;dur=${ms(tStarted - tUploaded)}, decode;dur=${ms(result.timing.decodeMs)}, infer;dur=${ms(result.timing.inferMs)}`,
      );
      void reply.header('cache-control', 'no-store');
      return { ...result, path: name ?? 'upload' };
    } catch (err) {
      // A job that failed because it was aborted reports why it was aborted (client gone / shutdown).
      if (job.signal.aborted && !(err instanceof HttpError)) {
        const reason = cancelled(job.signal);
        stnet.metrics.videos.inc({ result: reason.code });
        throw reason;
      }
      if (isStnetError(err) && !(err instanceof HttpError)) {
        stnet.metrics.videos.inc({ result: err.code });
        throw new HttpError(statusForCode(err.code), err.code, scrub(err.message));
      }
      if (!(err instanceof StnetError) && err instanceof Error) err.message = scrub(err.message);
      throw err;
    } finally {
      await rm(path, { force: true });
      job.done();
    }
  };

  // Before any body is read: the token, then the content type and declared size (fastify's own JSON or text
  // parser never runs on a body we would refuse).
  const onRequest = [app.requireToken, async (request: FastifyRequest): Promise<void> => void app.checkUploadHeaders(request)];
  app.post<{ Querystring: Query }>('/predict/stnet_kinetics400', { onRequest, schema: CLASSIFY_SCHEMAS['/predict/stnet_kinetics400'] }, async (request, reply) => {
    const result = await classify(request, reply);
    return { status: '0', msg: '', results: [result] };
  });
  app.post<{ Querystring: Query }>('/v1/classify', { onRequest, schema: CLASSIFY_SCHEMAS['/v1/classify'] }, async (request, reply) => classify(request, reply));
}

function ms(v: number): string {
  return (Math.round(v * 10) / 10).toFixed(1);
}
