/**
 * What a measured process reports about itself between two marks: CPU time (process.cpuUsage, all
 * threads: main, libuv pool, GC), peak RSS (sampled every few ms by a worker thread, so a main thread
 * busy in synchronous work is still seen), event-loop delay (perf_hooks.monitorEventLoopDelay) and
 * event-loop utilisation of the main thread.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

const SAMPLER = `
const { workerData } = require('node:worker_threads');
const peak = new Int32Array(workerData.sab);
setInterval(() => {
  const kb = Math.round(process.memoryUsage.rss() / 1024);
  if (kb > Atomics.load(peak, 0)) Atomics.store(peak, 0, kb);
}, workerData.intervalMs);
`;

export function createProcStats({ intervalMs = 5, counters = () => ({}) } = {}) {
  const sab = new SharedArrayBuffer(4);
  const peak = new Int32Array(sab);
  const sampler = new Worker(SAMPLER, { eval: true, workerData: { sab, intervalMs } });
  sampler.unref();
  const RESOLUTION_MS = 10;
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const lag = (ns) => (Number.isFinite(ns) && ns > 0 ? Math.max(0, ns / 1e6 - RESOLUTION_MS) : 0);
  delay.enable();
  let mark;

  /** Starts a new measurement window; with `gc` a full collection first (needs --expose-gc). */
  const reset = ({ gc = false } = {}) => {
    if (gc && global.gc) global.gc();
    delay.reset();
    const rss = process.memoryUsage.rss();
    Atomics.store(peak, 0, Math.round(rss / 1024));
    mark = { cpu: process.cpuUsage(), at: performance.now(), rss, elu: performance.eventLoopUtilization(), counters: counters() };
    return { rssMb: rss / 1048576 };
  };
  reset();

  const read = () => {
    const cpu = process.cpuUsage(mark.cpu);
    const rss = process.memoryUsage.rss();
    const peakKb = Math.max(Atomics.load(peak, 0), Math.round(rss / 1024));
    const elu = performance.eventLoopUtilization(mark.elu);
    return {
      wallMs: performance.now() - mark.at,
      cpuMs: (cpu.user + cpu.system) / 1000,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      rssStartMb: mark.rss / 1048576,
      rssMb: rss / 1048576,
      peakRssMb: peakKb / 1024,
      maxRssLifetimeMb: process.resourceUsage().maxRSS / 1024,
      // The histogram holds the time between two ticks of a 10 ms timer; the lag is what exceeds 10 ms.
      eventLoopDelayMs: {
        p50: lag(delay.percentile(50)),
        p99: lag(delay.percentile(99)),
        max: lag(delay.max),
        samples: delay.count,
      },
      eventLoopUtilization: elu.utilization,
      counters: Object.fromEntries(Object.entries(counters()).map(([k, v]) => [k, v - (mark.counters[k] ?? 0)])),
    };
  };

  return { reset, read, stop: () => sampler.terminate() };
}

/** Wires reset/read to IPC messages { type: 'mark' } and { type: 'read' } with a request id. */
export function serveStatsOverIpc(stats, extra = {}) {
  process.on('message', async (m) => {
    if (!m || typeof m !== 'object') return;
    if (m.type === 'mark') process.send({ type: 'reply', id: m.id, value: stats.reset({ gc: Boolean(m.gc) }) });
    else if (m.type === 'read') process.send({ type: 'reply', id: m.id, value: stats.read() });
    else if (extra[m.type]) {
      try {
        process.send({ type: 'reply', id: m.id, value: await extra[m.type](m) });
      } catch (err) {
        process.send({ type: 'reply', id: m.id, error: String(err?.stack ?? err) });
      }
    }
  });
}
