// GET /healthz (open, for probes and the page) and GET /metrics (Prometheus text, behind the token).
import type { FastifyInstance } from 'fastify';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics.js';

export const HEALTH_REPLY = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'closing'] },
    modelLoaded: { type: 'boolean' },
    workers: { type: 'integer' },
    running: { type: 'integer' },
    queueDepth: { type: 'integer' },
    capacity: { type: 'integer' },
    auth: { type: 'boolean' },
    maxUploadBytes: { type: 'integer' },
  },
  required: ['status', 'modelLoaded', 'workers', 'running', 'queueDepth', 'capacity', 'auth', 'maxUploadBytes'],
} as const;

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  const { stnet } = app;
  app.get('/healthz', { schema: { response: { 200: HEALTH_REPLY, 503: HEALTH_REPLY } } }, async (_request, reply) => {
    const q = stnet.queue.stats();
    void reply.code(stnet.closing ? 503 : 200).header('cache-control', 'no-store');
    return {
      status: stnet.closing ? 'closing' : 'ok',
      modelLoaded: !stnet.closing,
      workers: q.workers,
      running: q.running,
      queueDepth: q.waiting,
      capacity: q.capacity,
      auth: app.authRequired,
      maxUploadBytes: app.uploads.maxBytes,
    };
  });
  app.get('/metrics', { onRequest: app.requireToken }, async (_request, reply) => {
    const q = stnet.queue.stats();
    void reply.type(PROMETHEUS_CONTENT_TYPE).header('cache-control', 'no-store');
    return stnet.metrics.render({ queueDepth: q.waiting, running: q.running, workers: q.workers, capacity: q.capacity, modelLoaded: !stnet.closing });
  });
}
