/**
 * LMTP clients for tests. `lmtpSend` uses Nodemailer's SMTPConnection in LMTP mode and reports the
 * reply for each recipient; `pythonLmtpSend` runs Python's smtplib.LMTP, an independent
 * implementation, and returns its replies as JSON.
 */
import MailComposer from 'nodemailer/lib/mail-composer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { spawn } from 'node:child_process';

export interface RcptReply {
  rcpt: string;
  code: number;
  message: string;
}

export async function lmtpSend(port: number, from: string, to: string[], raw: Buffer | string): Promise<RcptReply[]> {
  const conn = new SMTPConnection({ host: '127.0.0.1', port, lmtp: true, ignoreTLS: true, logger: false, name: 'mta.test' });
  await new Promise<void>((resolve, reject) => {
    conn.once('error', reject);
    conn.connect(() => resolve());
  });
  try {
    return await new Promise<RcptReply[]>((resolve) => {
      conn.send({ from, to }, Buffer.isBuffer(raw) ? raw : Buffer.from(raw), (err, info) => {
        const rejected = new Map<string, { responseCode?: number; response?: string }>();
        const errors = ((err as { rejectedErrors?: unknown[] } | null)?.rejectedErrors ?? (info as { rejectedErrors?: unknown[] } | undefined)?.rejectedErrors ?? []) as Array<{
          recipient: string;
          responseCode?: number;
          response?: string;
        }>;
        for (const e of errors) rejected.set(e.recipient, e);
        resolve(
          to.map((rcpt) => {
            const e = rejected.get(rcpt);
            if (e) return { rcpt, code: e.responseCode ?? 0, message: e.response ?? '' };
            if (err) return { rcpt, code: (err as { responseCode?: number }).responseCode ?? 0, message: (err as Error).message };
            return { rcpt, code: 250, message: 'ok' };
          }),
        );
      });
    });
  } finally {
    conn.quit();
  }
}

const PY_LMTP = `
import json, smtplib, sys
req = json.load(sys.stdin)
out = {"rcpt": [], "data": None, "error": None}
try:
    c = smtplib.LMTP(req["host"], req["port"], local_hostname="mta.test", timeout=30)
    c.ehlo_or_helo_if_needed()
    if req.get("xforward"):
        # What Postfix sends with lmtp_send_xforward_command = yes.
        c.docmd("XFORWARD", "ADDR=%s HELO=%s" % (req["xforward"]["addr"], req["xforward"]["helo"]))
    code, msg = c.mail(req["from"])
    out["mail"] = [code, msg.decode("utf8", "replace")]
    ok = []
    for r in req["to"]:
        code, msg = c.rcpt(r)
        out["rcpt"].append([r, code, msg.decode("utf8", "replace")])
        if code == 250:
            ok.append(r)
    if ok:
        # smtplib.LMTP reads one reply after DATA; read one per accepted recipient ourselves.
        code, msg = c.putcmd("data") or c.getreply()
        if code == 354:
            q = smtplib.quotedata(req["raw"]).encode("utf8")
            if q[-2:] != b"\\r\\n":
                q += b"\\r\\n"
            c.send(q + b".\\r\\n")
            replies = []
            for r in ok:
                rc, rm = c.getreply()
                replies.append([r, rc, rm.decode("utf8", "replace")])
            out["data"] = replies
        else:
            out["data"] = [[r, code, msg.decode("utf8", "replace")] for r in ok]
    c.quit()
except Exception as e:
    out["error"] = repr(e)
print(json.dumps(out))
`;

export interface PythonLmtpResult {
  mail?: [number, string];
  rcpt: Array<[string, number, string]>;
  data: Array<[string, number, string]> | null;
  error: string | null;
}

export function pythonLmtpSend(
  port: number,
  from: string,
  to: string[],
  raw: string,
  options: { xforward?: { addr: string; helo: string } } = {},
): Promise<PythonLmtpResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', PY_LMTP], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`python3 exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout) as PythonLmtpResult);
    });
    child.stdin.end(JSON.stringify({ host: '127.0.0.1', port, from, to, raw, xforward: options.xforward }));
  });
}

/**
 * A bare LMTP conversation, one command at a time, for tests that must act between two commands
 * (for example take the database away after RCPT and before DATA).
 */
export interface RawLmtp {
  /** Sends a line (or the message data when `data` is true) and resolves with the next `replies` replies. */
  command(line: string, replies?: number): Promise<string[]>;
  data(raw: string, replies: number): Promise<string[]>;
  close(): void;
}

export async function rawLmtp(port: number): Promise<RawLmtp> {
  const net = await import('node:net');
  const socket = net.connect(port, '127.0.0.1');
  let buffer = '';
  const pending: Array<{ count: number; got: string[]; partial: string[]; resolve: (r: string[]) => void }> = [];
  socket.on('data', (d) => {
    buffer += d.toString('utf8');
    let idx: number;
    while ((idx = buffer.indexOf('\r\n')) >= 0) {
      const line = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      const head = pending[0];
      if (!head) continue;
      // A multi-line reply (250-SIZE ...) counts once, with all its lines.
      head.partial.push(line);
      if (/^\d{3} /.test(line)) {
        head.got.push(head.partial.join('\n'));
        head.partial = [];
      }
      if (head.got.length === head.count) {
        pending.shift();
        head.resolve(head.got);
      }
    }
  });
  const expectReplies = (count: number) => new Promise<string[]>((resolve) => pending.push({ count, got: [], partial: [], resolve }));
  await expectReplies(1); // greeting
  return {
    command(line, replies = 1) {
      const p = expectReplies(replies);
      socket.write(`${line}\r\n`);
      return p;
    },
    data(raw, replies) {
      const p = expectReplies(replies);
      const body = raw.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
      socket.write(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`);
      return p;
    },
    close() {
      socket.end('QUIT\r\n');
    },
  };
}

export type TestMail = ConstructorParameters<typeof MailComposer>[0];

/** A real MIME message built by nodemailer's composer, addressed to Alice unless `mail` says otherwise. */
export function composeToAlice(mail: TestMail): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    new MailComposer({ to: 'Alice <alice@example.test>', date: new Date(), ...mail }).compile().build((err, buf) => (err ? reject(err) : resolve(buf))),
  );
}

