/**
 * Operational counters in Prometheus form. One Metrics object per process (no module-level registry),
 * handed to each role it runs; the ops endpoint serves `registry.metrics()`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How long a scrape waits for each hook before it serves the values it has. */
export const SCRAPE_HOOK_MS = 2_000;

/** `p`, or a rejection once `ms` have passed without it settling (`p` itself is not cancelled). */
export function withinMs<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class Metrics {
  readonly registry = new Registry();
  readonly decisions = new Counter({
    name: 'crgate_decisions_total',
    help: 'Decisions per recipient, by action',
    labelNames: ['decision'] as const,
    registers: [this.registry],
  });
  readonly reasons = new Counter({
    name: 'crgate_decision_reasons_total',
    help: 'Reasons (rule symbols) given with decisions',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly challenges = new Counter({
    name: 'crgate_challenges_total',
    help: 'Challenges by outcome (sent, suppressed, confirmed, expired) and, for suppressed, the rule',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });
  readonly lmtpData = new Histogram({
    name: 'crgate_lmtp_data_seconds',
    help: 'Time from the end of DATA to the LMTP replies',
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'crgate_deliveries_total',
    help: 'Deliveries downstream, by kind (ingest, release) and result (delivered, retry, failed)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly queueJobs = new Gauge({
    name: 'crgate_queue_jobs',
    help: 'Jobs per queue and state (read from Redis when scraped)',
    labelNames: ['queue', 'state'] as const,
    registers: [this.registry],
  });
  readonly outboxRows = new Gauge({
    name: 'crgate_outbox_rows',
    help: 'Jobs written to the PostgreSQL outbox and not yet handed to the queues',
    registers: [this.registry],
  });

  private readonly scrapeHooks: Array<() => Promise<void>> = [];

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'crgate_' });
  }

  /**
   * Registers work to do before each scrape (reading queue depths); its failure leaves old values, and
   * so does a hook that has not answered within SCRAPE_HOOK_MS: a Redis or PostgreSQL that accepts
   * connections but does not answer must not take the whole scrape (the outbox backlog with it) away.
   */
  onScrape(fn: () => Promise<void>): void {
    this.scrapeHooks.push(fn);
  }

  async render(): Promise<string> {
    await Promise.allSettled(this.scrapeHooks.map((fn) => withinMs(fn(), SCRAPE_HOOK_MS)));
    return this.registry.metrics();
  }
}
