/**
 * The load generator, run as its own process (child_process.fork) so that it does not share an
 * event loop with the server it measures. Told over IPC:
 *   { port, connections, count, rate?, maxSeconds?, offset, seed, files }
 * it builds the messages (lib/workload.mjs), opens the connections (each waits for its greeting, which
 * smtp-server delays by 100 ms), answers { ready }, and on { go } sends `count` messages, one at a
 * time per connection. Without `rate` every connection sends its next message as soon as the last
 * one is answered (closed loop, the most the server can take); with `rate` (messages/s in all)
 * message i is due at start + i/rate (open loop) and waits for its time. It answers { result }.
 */
import { LmtpClient, outcomeOf } from './lmtp-client.mjs';
import { BENCH_USER, envelopeFor, loadMessages, wireMessage } from './workload.mjs';
import { summarize } from './stats.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function run(opts) {
  const prepared = loadMessages(opts.files);
  const clients = await Promise.all(Array.from({ length: opts.connections }, () => new LmtpClient(opts.port).connect()));
  process.send({ type: 'ready' });
  await new Promise((resolve) => process.once('message', (m) => m.type === 'go' && resolve()));

  const latencies = [];
  /** Latencies by reply (deliver, challenge, …): where the tail is. */
  const latenciesByOutcome = {};
  const outcomes = {};
  const byKind = {};
  let next = 0;
  let sent = 0;
  let late = 0;
  let bytes = 0;
  const t0 = performance.now();
  const deadline = opts.maxSeconds ? t0 + opts.maxSeconds * 1000 : Infinity;
  const cpu0 = process.cpuUsage();

  async function loop(client) {
    for (;;) {
      const i = next++;
      if (i >= opts.count || performance.now() > deadline) return;
      if (opts.rate) {
        const due = t0 + (i * 1000) / opts.rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        else if (wait < -5) late++;
      }
      const n = opts.offset + i;
      const env = envelopeFor(n, opts.seed);
      const wire = wireMessage(n, prepared[n % prepared.length], env.sender);
      bytes += wire.length;
      const { replies, latencyMs } = await client.send(env.sender, [BENCH_USER], wire);
      sent++;
      if (latencyMs !== undefined) latencies.push(latencyMs);
      const o = outcomeOf(replies[0]);
      outcomes[o] = (outcomes[o] ?? 0) + 1;
      if (latencyMs !== undefined) (latenciesByOutcome[o] ??= []).push(latencyMs);
      byKind[env.kind] ??= {};
      byKind[env.kind][o] = (byKind[env.kind][o] ?? 0) + 1;
      if ((o === '4xx' || o === '5xx' || o === 'no reply') && !opts.quietErrors) {
        outcomes.examples ??= [];
        if (outcomes.examples.length < 5) outcomes.examples.push(replies[0].text);
      }
      if (client.closed) return;
    }
  }
  await Promise.all(clients.map(loop));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  for (const c of clients) c.close();
  return {
    sent,
    elapsedMs,
    rate: (sent * 1000) / elapsedMs,
    bytes,
    latency: summarize(latencies),
    latencyByOutcome: Object.fromEntries(Object.entries(latenciesByOutcome).map(([o, l]) => [o, summarize(l)])),
    outcomes,
    byKind,
    late,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

process.once('message', (opts) => {
  run(opts).then(
    (result) => {
      process.send({ type: 'result', result }, () => process.exit(0));
    },
    (err) => {
      process.send({ type: 'error', error: String(err?.stack ?? err) }, () => process.exit(1));
    },
  );
});

// The bench went away: stop sending.
process.on('disconnect', () => process.exit(0));
