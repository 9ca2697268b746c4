// Prometheus text exposition (format 0.0.4) without a client library: a handful of counters, one
// histogram and gauges read at scrape time. Label values come only from route templates, status codes
// and error codes (never from the client), so the series count stays bounded.

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Request latency buckets in seconds: uploads plus a model run take from ~0.1 s to minutes. */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;

type Labels = Readonly<Record<string, string>>;

function labelKey(labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(n: number): string {
  if (n === Infinity) return '+Inf';
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
}

class Counter {
  readonly #values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.#values) lines.push(`${this.name}${k} ${fmt(v)}`);
    return lines.join('\n');
  }
}

class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (s === undefined) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: fmt(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelKey(s.labels)} ${fmt(s.sum)}`);
      lines.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export interface GaugeSnapshot {
  queueDepth: number;
  running: number;
  workers: number;
  capacity: number;
  modelLoaded: boolean;
}

export class ServerMetrics {
  readonly requests = new Counter('stnet_http_requests_total', 'HTTP requests answered, by route template, method and status code.');
  readonly latency = new Histogram('stnet_http_request_duration_seconds', 'Time from request start to response end, by route template.', LATENCY_BUCKETS);
  readonly videos = new Counter('stnet_videos_classified_total', 'Videos whose classification ended, by outcome: ok, or the error code (E_CANCELLED also counts jobs cancelled while queued).');
  readonly rejected = new Counter('stnet_queue_rejected_total', 'Requests refused with 429 because every queue slot was taken.');

  render(g: GaugeSnapshot): string {
    const mem = process.memoryUsage();
    const gauge = (name: string, help: string, v: number): string => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${fmt(v)}`;
    return [
      this.requests.render(),
      this.latency.render(),
      this.videos.render(),
      this.rejected.render(),
      gauge('stnet_queue_depth', 'Uploaded videos waiting for a free worker.', g.queueDepth),
      gauge('stnet_jobs_running', 'Videos being decoded or classified now.', g.running),
      gauge('stnet_workers', 'Model workers (one loaded model each).', g.workers),
      gauge('stnet_queue_capacity', 'Requests admitted at once (workers + max queue); more get 429.', g.capacity),
      gauge('stnet_model_loaded', '1 when the model workers are loaded and accepting work.', g.modelLoaded ? 1 : 0),
      gauge('process_resident_memory_bytes', 'Resident set size of the server process.', mem.rss),
    ].join('\n') + '\n';
  }
}
