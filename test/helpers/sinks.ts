/**
 * Capture sinks for tests: a real smtp-server listening on loopback, in LMTP mode (standing in for
 * Dovecot) or SMTP mode (standing in for the relay that carries challenges). Each received message is
 * kept with its envelope and raw bytes; `reply` decides the answer per recipient.
 */
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export interface Captured {
  mailFrom: string;
  rcptTo: string[];
  /** MAIL FROM and RCPT TO parameters as the client sent them (e.g. NOTIFY=NEVER). */
  mailArgs: Record<string, unknown>;
  rcptArgs: Array<Record<string, unknown>>;
  raw: Buffer;
}

export interface Sink {
  port: number;
  messages: Captured[];
  /** Every command line received, as it was on the wire (smtp-server's parsed addresses have Unicode domains). */
  commands: string[];
  /** Answer for each recipient: true = 250, or an Error with responseCode. */
  reply: (rcpt: string) => true | Error;
  /**
   * Holds every new transaction at MAIL FROM (unanswered) until resume(): a client caught there has
   * sent nothing yet, so killing it then cannot leave a message the client does not know was accepted.
   */
  pause(): void;
  resume(): void;
  /** Transactions waiting at MAIL FROM while paused. */
  held(): number;
  close(): Promise<void>;
}

export async function startSink(mode: 'lmtp' | 'smtp', options: { dsn?: boolean; smtputf8?: boolean } = {}): Promise<Sink> {
  const sink: Sink = {
    port: 0,
    messages: [],
    commands: [],
    reply: () => true,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      for (const release of waiting.splice(0)) release();
    },
    held: () => waiting.length,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  let paused = false;
  const waiting: Array<() => void> = [];
  const server = new SMTPServer({
    lmtp: mode === 'lmtp',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    hideDSN: !options.dsn,
    hideSMTPUTF8: options.smtputf8 === false,
    // Only to see the command lines; nothing is printed.
    logger: {
      debug: (entry: { tnx?: string }, _prefix: string, line: string) => void (entry?.tnx === 'command' && sink.commands.push(String(line))),
      trace: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      fatal: () => undefined,
    } as never,
    onMailFrom(_address, _session, callback) {
      if (!paused) return callback();
      waiting.push(() => callback());
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const rcpts = session.envelope.rcptTo.map((r) => r.address);
        const answers = rcpts.map((r) => sink.reply(r));
        const accepted = rcpts.filter((_r, i) => answers[i] === true);
        if (accepted.length) {
          sink.messages.push({
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            rcptTo: accepted,
            mailArgs: (session.envelope.mailFrom ? (session.envelope.mailFrom as { args?: Record<string, unknown> }).args : {}) ?? {},
            rcptArgs: session.envelope.rcptTo.map((r) => (r as { args?: Record<string, unknown> }).args ?? {}),
            raw: Buffer.concat(chunks),
          });
        }
        if (mode === 'lmtp') callback(null, answers as never);
        else callback(answers[0] === true ? null : (answers[0] as Error));
      });
    },
  });
  // A client killed in the middle of a session (the worker-kill tests do it) resets its socket; the
  // server reports that as an error event, which must not become the test process's uncaught exception.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sink.port = (server.server.address() as AddressInfo).port;
  return sink;
}

/** Polls until `check` returns true or the time runs out; then fails with `what`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
