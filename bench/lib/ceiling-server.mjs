/**
 * The ceiling: a bare smtp-server in LMTP mode that reads each message and throws it away, answering
 * 250 for every recipient. Same library and options as crgate's ingest where they matter (LMTP,
 * reverse lookups off, XFORWARD accepted, enhanced status codes), and nothing else. Run as a child
 * process; reports its port over IPC and serves the same stats as the engine.
 *
 * With CEILING_KEEP=1 it keeps each message as one Buffer until the end of DATA, as crgate must (it
 * answers only once the message is stored or delivered): the memory reference for large messages.
 */
import { SMTPServer } from 'smtp-server';
import { createProcStats, serveStatsOverIpc } from './proc-stats.mjs';

const KEEP = process.env.CEILING_KEEP === '1';
const stats = createProcStats();
let messages = 0;
/** The last message kept (CEILING_KEEP): held until the next one, like a message being stored. */
let kept;
const server = new SMTPServer({
  lmtp: true,
  disableReverseLookup: true,
  useXForward: true,
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  hideSTARTTLS: true,
  hideENHANCEDSTATUSCODES: false,
  size: 64 * 1024 * 1024,
  maxClients: 1000,
  logger: false,
  onData(stream, session, callback) {
    // Kept the way crgate's ingest keeps it: one buffer of the size MAIL FROM announced.
    const size = KEEP ? Number(session.envelope.mailFrom?.args?.SIZE ?? 0) : 0;
    const buf = size > 0 ? Buffer.allocUnsafe(size) : undefined;
    let at = 0;
    stream.on('data', (c) => {
      if (buf) at += c.copy(buf, at);
    });
    stream.on('end', () => {
      messages++;
      if (buf) kept = buf.subarray(0, at);
      callback();
    });
  },
});
server.on('error', () => undefined);

server.listen(0, '127.0.0.1', () => {
  serveStatsOverIpc(stats, {
    stop: async () => {
      setTimeout(() => process.exit(0), 50);
      return { messages };
    },
  });
  process.send({ type: 'listening', port: server.server.address().port });
});

// The bench went away: nothing left to measure.
process.on('disconnect', () => process.exit(0));
