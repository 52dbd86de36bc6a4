/**
 * A lean LMTP client for load generation: one socket, LHLO once, then per message XFORWARD, MAIL,
 * RCPT and DATA pipelined in one write (as Postfix's LMTP client does with PIPELINING), the message
 * after the 354, and one reply per recipient. Latency is taken from the moment the last byte of the
 * message was handed to the kernel (end of DATA) to the arrival of the reply.
 */
import net from 'node:net';
import { CLIENT } from './workload.mjs';

export class LmtpClient {
  constructor(port, host = '127.0.0.1') {
    this.port = port;
    this.host = host;
    this.buffer = '';
    this.lines = [];
    this.waiters = [];
    this.closed = false;
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.socket = net.connect(this.port, this.host);
      this.socket.setNoDelay(true);
      this.socket.once('error', reject);
      this.socket.on('data', (d) => this.onData(d));
      this.socket.on('close', () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) w.resolve({ code: 0, text: 'connection closed', at: performance.now() });
      });
      this.socket.once('connect', async () => {
        this.socket.off('error', reject);
        this.socket.on('error', () => undefined);
        try {
          const greeting = await this.reply();
          if (greeting.code !== 220) throw new Error(`greeting: ${greeting.text}`);
          this.socket.write('LHLO mta.bench.test\r\n');
          const lhlo = await this.reply();
          if (lhlo.code !== 250) throw new Error(`LHLO: ${lhlo.text}`);
          resolve(this);
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  onData(d) {
    const at = performance.now();
    this.buffer += d.toString('latin1');
    let nl;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.lines.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const text = this.lines.join('\n');
        this.lines = [];
        const w = this.waiters.shift();
        if (w) w.resolve({ code: Number(line.slice(0, 3)), text, at });
      }
    }
  }

  /** The next complete reply. */
  reply() {
    return new Promise((resolve) => {
      if (this.closed) return resolve({ code: 0, text: 'connection closed', at: performance.now() });
      this.waiters.push({ resolve });
    });
  }

  /**
   * Sends one message to `rcpts`; `wire` is the dot-stuffed message ending in ".\r\n".
   * Returns { replies: [{code, text}], latencyMs } (latencyMs from end of DATA to the last reply).
   */
  async send(mailFrom, rcpts, wire, { xforward = true } = {}) {
    const cmds =
      (xforward ? `XFORWARD ADDR=${CLIENT.addr} HELO=${CLIENT.helo}\r\n` : '') +
      `MAIL FROM:<${mailFrom}> SIZE=${wire.length}\r\n` +
      rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join('') +
      'DATA\r\n';
    const pending = [];
    const expected = (xforward ? 1 : 0) + 1 + rcpts.length + 1;
    for (let k = 0; k < expected; k++) pending.push(this.reply());
    this.socket.write(cmds);
    const answers = await Promise.all(pending);
    const dataReply = answers[answers.length - 1];
    const rcptReplies = answers.slice(expected - 1 - rcpts.length, expected - 1);
    const accepted = rcptReplies.filter((r) => r.code >= 200 && r.code < 300).length;
    if (dataReply.code !== 354) {
      // Refused before the data: every recipient keeps its RCPT (or MAIL) answer.
      const mail = answers[xforward ? 1 : 0];
      return {
        replies: rcptReplies.map((r) => (mail.code >= 400 ? mail : r.code >= 400 ? r : dataReply)),
        latencyMs: undefined,
      };
    }
    const after = [];
    for (let k = 0; k < accepted; k++) after.push(this.reply());
    await new Promise((resolve) => this.socket.write(wire, () => resolve()));
    const written = performance.now();
    const replies = await Promise.all(after);
    const last = replies.reduce((m, r) => Math.max(m, r.at), 0);
    let k = 0;
    return {
      replies: rcptReplies.map((r) => (r.code >= 200 && r.code < 300 ? replies[k++] : r)),
      latencyMs: Math.max(0, last - Math.min(written, last)),
    };
  }

  close() {
    if (this.closed) return;
    this.socket.end('QUIT\r\n');
    setTimeout(() => this.socket.destroy(), 500).unref();
  }
}

/** What a reply says crgate did (the text after "250 2.6.0 OK: "). */
export function outcomeOf(reply) {
  if (reply.code >= 200 && reply.code < 300) {
    const t = reply.text;
    if (t.includes('delivered')) return 'deliver';
    if (t.includes('held (challenge)')) return 'challenge';
    if (t.includes('held (quarantine)')) return 'quarantine';
    if (t.includes('accepted (discard)')) return 'discard';
    if (t.includes('already accepted')) return 'duplicate';
    return '2xx';
  }
  if (reply.code >= 400 && reply.code < 500) return '4xx';
  if (reply.code >= 500) return '5xx';
  return 'no reply';
}
