// POST /v1/timeline: the windows of one uploaded video (docs/timeline.md for the window rule), as a JSON array,
// or as NDJSON (one window per line as soon as it is classified) when the client sends
// `Accept: application/x-ndjson`.
//
// The same path as /v1/classify: token -> content type and size -> query schema -> a queue slot -> the upload to
// a private temp file -> a free worker, which is held for the whole timeline (one video at a time per model).
// NDJSON headers go out with the first window, so an error before it (undecodable video, a window shorter than
// one segment once the frame rate is known) still gets its 4xx/5xx status; an error after it can only be told
// in the stream: a last line `{"error":{"code","message"}}`, and the stream ends.
import { rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StnetError, isStnetError, type StnetErrorCode } from '../../errors.js';
import { SEGLEN } from '../../classify.js';
import { checkWindowOptions, type WindowOptions } from '../../timeline/windows.js';
import type { ServerWindowResult } from '../classifier.js';
import { cancelled } from '../queue.js';
import { ERROR_REPLY, HttpError, optionError, statusForCode, type ObjectSchema } from '../plugins/errors.js';
import { uploadPath, type Upload } from '../plugins/uploads.js';
import { CLASSIFY_QUERY, VIDEO_RESULT } from './classify.js';

const WINDOW_PROPERTIES = {
  window: { type: 'number', minimum: 0.01, maximum: 86400, description: 'window length in seconds (default 10)' },
  stride: { type: 'number', minimum: 0.01, maximum: 86400, description: 'stride in seconds (default 5, or half the window)' },
  window_frames: { type: 'integer', minimum: SEGLEN, maximum: 1_000_000, description: 'window length in frames (instead of seconds)' },
  stride_frames: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'stride in frames (default half the window)' },
} as const;

/** The query string: /v1/classify's options plus the window, in seconds or in frames. */
export const TIMELINE_QUERY = {
  type: 'object',
  properties: { ...CLASSIFY_QUERY.properties, ...WINDOW_PROPERTIES },
  additionalProperties: false,
} as const satisfies ObjectSchema;

/** Multipart fields besides the file: the same options, or `options` holding their JSON. */
export const TIMELINE_FIELDS = {
  type: 'object',
  properties: { ...TIMELINE_QUERY.properties, options: { type: 'string', description: 'JSON object of the query options' } },
  additionalProperties: false,
} as const satisfies ObjectSchema;

const WINDOW_RESULT = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    window: { type: 'integer' },
    startFrame: { type: 'integer' },
    endFrame: { type: 'integer' },
    startSec: { type: 'number' },
    endSec: { type: 'number' },
    predictions: VIDEO_RESULT.properties.predictions,
  },
  required: ['path', 'window', 'startFrame', 'endFrame', 'startSec', 'endSec', 'predictions'],
  additionalProperties: true,
} as const;

export const TIMELINE_SCHEMAS = {
  '/v1/timeline': { querystring: TIMELINE_QUERY, response: { 200: { type: 'array', items: WINDOW_RESULT }, '4xx': ERROR_REPLY, '5xx': ERROR_REPLY } },
} as const;

export const NDJSON = 'application/x-ndjson';

interface Query {
  top_k?: number;
  seg_num?: number;
  window?: number;
  stride?: number;
  window_frames?: number;
  stride_frames?: number;
}

/** Library option names -> this route's names, for the messages of the timeline's own checks. */
const NAMES: Readonly<Record<keyof WindowOptions, string>> = { windowSec: 'window', strideSec: 'stride', windowFrames: 'window_frames', strideFrames: 'stride_frames' };

/**
 * The runner's one late message (a window in seconds shorter than a segment, known once the frame rate is) names
 * the library option and the CLI flag, "windowSec (--window on the CLI)": this route's name instead.
 */
function routeNames(message: string): string {
  return message.replace(/\b(windowSec|strideSec|windowFrames|strideFrames)\b(?: \(--[a-z_]+ on the CLI\))?/g, (_m, k: keyof WindowOptions) => NAMES[k]);
}

export default async function timelineRoutes(app: FastifyInstance): Promise<void> {
  const { stnet, uploads } = app;

  const check = (request: FastifyRequest, input: Record<string, unknown>, schema: ObjectSchema, where: string): Query => {
    const validate = request.compileValidationSchema(schema);
    if (!validate(input)) throw optionError(validate.errors![0]!, input, schema, where);
    return input as Query;
  };

  /** Query, then `options` JSON, then single fields (the later wins), as /v1/classify merges them. */
  const merge = (request: FastifyRequest, query: Query, fields: Upload['fields']): Query => {
    const flat: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) flat[k] = v.length === 1 ? v[0] : [...v];
    const single = check(request, flat, TIMELINE_FIELDS, 'multipart field');
    let fromJson: Query = {};
    if (typeof flat.options === 'string') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(flat.options);
      } catch {
        throw new HttpError(400, 'E_INVALID_OPTION', 'The multipart field "options" is not JSON: send e.g. {"top_k": 5, "window": 10}');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new HttpError(400, 'E_INVALID_OPTION', `Expected JSON object for options but received ${flat.options}`);
      }
      fromJson = check(request, parsed as Record<string, unknown>, TIMELINE_QUERY, 'option');
    }
    const { options: _options, ...rest } = single as Query & { options?: string };
    return { ...query, ...fromJson, ...rest };
  };

  /** Window options in library form, checked for both units at once etc. (400 before any decode). */
  const windowOptions = (q: Query): WindowOptions => {
    const w: WindowOptions = {
      ...(q.window !== undefined ? { windowSec: q.window } : {}),
      ...(q.stride !== undefined ? { strideSec: q.stride } : {}),
      ...(q.window_frames !== undefined ? { windowFrames: q.window_frames } : {}),
      ...(q.stride_frames !== undefined ? { strideFrames: q.stride_frames } : {}),
    };
    try {
      checkWindowOptions(w, SEGLEN, (k) => NAMES[k]);
    } catch (err) {
      if (isStnetError(err)) throw new HttpError(400, 'E_INVALID_OPTION', err.message);
      throw err;
    }
    return w;
  };

  const onRequest = [app.requireToken, async (request: FastifyRequest): Promise<void> => void app.checkUploadHeaders(request)];

  app.post<{ Querystring: Query }>('/v1/timeline', { onRequest, schema: TIMELINE_SCHEMAS['/v1/timeline'] }, async (request, reply: FastifyReply) => {
    const kind = app.checkUploadHeaders(request);
    const ndjson = (request.headers.accept ?? '').split(',').some((t) => t.split(';')[0]!.trim().toLowerCase() === NDJSON);
    // A raw body has all its options in the query: a bad window is refused before a slot is taken, like a bad
    // option (multipart fields may complete the query's window, so those are checked once merged).
    if (kind === 'raw') windowOptions(request.query);
    stnet.admit(request, reply);
    const job = request.job!;
    const path = uploadPath(uploads.dir);
    let name: string | undefined;
    const scrub = (message: string): string => {
      const shown = name === undefined ? 'the upload' : JSON.stringify(name);
      return routeNames(message.split(`file:${path}: `).join('').split(`${path}: `).join('').split(`file:${path}`).join(shown).split(path).join(shown).split(uploads.dir).join('<upload dir>'));
    };
    /** The error a failure answers with (status + code), as /v1/classify maps them. */
    const asHttp = (err: unknown): unknown => {
      if (err instanceof HttpError) return err;
      if (job.signal.aborted) return cancelled(job.signal);
      if (isStnetError(err)) return new HttpError(statusForCode(err.code), err.code as StnetErrorCode, scrub(err.message));
      if (!(err instanceof StnetError) && err instanceof Error) err.message = scrub(err.message);
      return err;
    };
    let stream: PassThrough | undefined;
    let tail: string | undefined;
    const windows: ServerWindowResult[] = [];
    try {
      const upload = await request.receiveUpload(kind, path, job.signal);
      name = upload.name;
      const q = kind === 'multipart' ? merge(request, request.query, upload.fields) : request.query;
      const win = windowOptions(q);
      if (upload.bytes === 0) throw new HttpError(422, 'E_VIDEO_EMPTY', 'The uploaded video is empty (0 bytes): send the file\'s contents as the body');
      const shownPath = name ?? 'upload';
      await stnet.queue.run(job.signal, async (worker) => {
        if (worker.timeline === undefined) throw new HttpError(501, 'E_HTTP', 'This server\'s workers classify whole videos only: use /v1/classify');
        for await (const w of worker.timeline(path, { topK: q.top_k ?? stnet.topK, segNum: q.seg_num, signal: job.signal, ...win })) {
          if (job.signal.aborted) break;
          const shown = { ...w, path: shownPath };
          if (!ndjson) {
            windows.push(shown);
            continue;
          }
          if (stream === undefined) {
            stream = new PassThrough();
            void reply.header('cache-control', 'no-store').type(NDJSON).send(stream);
          }
          stream.write(`${JSON.stringify(shown)}\n`);
        }
      });
      if (job.signal.aborted) throw cancelled(job.signal);
      stnet.metrics.videos.inc({ result: 'ok' });
      if (!ndjson) {
        void reply.header('cache-control', 'no-store');
        return windows;
      }
      // Every video has at least one window; this only guards a worker that yields none.
      if (stream === undefined) {
        stream = new PassThrough();
        void reply.header('cache-control', 'no-store').type(NDJSON).send(stream);
      }
      return reply;
    } catch (err) {
      const e = asHttp(err);
      if (isStnetError(e) && !(e instanceof HttpError && e.code === 'E_HTTP')) stnet.metrics.videos.inc({ result: e.code });
      if (stream === undefined) throw e;
      // Headers are out: the error is the stream's last line.
      const code = isStnetError(e) ? e.code : 'E_RUNTIME';
      const message = e instanceof Error ? e.message : String(e);
      tail = `${JSON.stringify({ error: { code, message } })}\n`;
      return reply;
    } finally {
      await rm(path, { force: true });
      job.done();
      // Ended last, so a client that has read the whole stream finds the upload removed and the slot free.
      stream?.end(tail);
    }
  });
}
