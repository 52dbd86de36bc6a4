/**
 * The ceiling: a bare smtp-server in LMTP mode that reads each message and throws it away, answering
 * 250 for every recipient. Same library and options as crgate's ingest where they matter (LMTP,
 * reverse lookups off, XFORWARD accepted, enhanced status codes), and nothing else. Run as a child
 * process; reports its port over IPC and serves the same stats as the engine.
 */
import { SMTPServer } from 'smtp-server';
import { createProcStats, serveStatsOverIpc } from './proc-stats.mjs';

const stats = createProcStats();
let messages = 0;
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
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      messages++;
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
