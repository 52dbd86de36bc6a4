/**
 * A tiny discard sink speaking LMTP or SMTP on loopback, standing in for Dovecot (deliveries) and for
 * the relay (challenges). It greets at once, like Dovecot and Postfix do: smtp-server waits 100 ms
 * before every greeting (early-talker detection), which would add 100 ms to every delivery crgate
 * makes, since crgate opens one connection per delivery. It keeps nothing but counts.
 */
import net from 'node:net';

const END = Buffer.from('\r\n.\r\n');

export async function startSink(mode) {
  const stats = { messages: 0, recipients: 0, bytes: 0, connections: 0 };
  const sockets = new Set();
  const server = net.createServer((socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let inData = false;
    let text = '';
    let rcpts = 0;
    let tail = Buffer.alloc(0); // the last bytes of data seen, to find the terminator across chunks
    let size = 0;
    const greeting = mode === 'lmtp' ? '220 sink.bench.test LMTP ready\r\n' : '220 sink.bench.test ESMTP ready\r\n';
    socket.write(greeting);

    const command = (line) => {
      const verb = line.slice(0, 4).toUpperCase();
      switch (verb) {
        case 'LHLO':
        case 'EHLO':
          return '250-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n';
        case 'HELO':
          return '250 sink.bench.test\r\n';
        case 'MAIL':
          rcpts = 0;
          return '250 2.1.0 Ok\r\n';
        case 'RCPT':
          rcpts++;
          return '250 2.1.5 Ok\r\n';
        case 'DATA':
          if (rcpts === 0) return '503 5.5.1 No valid recipients\r\n';
          inData = true;
          tail = Buffer.from('\r\n'); // a "." line right after DATA ends an empty message
          size = 0;
          return '354 End data with <CR><LF>.<CR><LF>\r\n';
        case 'RSET':
          rcpts = 0;
          return '250 2.0.0 Ok\r\n';
        case 'NOOP':
          return '250 2.0.0 Ok\r\n';
        case 'QUIT':
          socket.end('221 2.0.0 Bye\r\n');
          return '';
        default:
          return '502 5.5.2 Command not recognised\r\n';
      }
    };

    socket.on('data', (chunk) => {
      let out = '';
      let rest = chunk;
      while (rest.length) {
        if (inData) {
          // Search the terminator in tail + chunk (tail holds at most 4 bytes).
          const joined = tail.length ? Buffer.concat([tail, rest]) : rest;
          const at = joined.indexOf(END);
          if (at < 0) {
            size += rest.length;
            tail = joined.subarray(Math.max(0, joined.length - 4));
            rest = Buffer.alloc(0);
            break;
          }
          const consumed = at + END.length - tail.length;
          size += consumed;
          rest = rest.subarray(consumed);
          inData = false;
          tail = Buffer.alloc(0);
          stats.messages++;
          stats.recipients += rcpts;
          stats.bytes += size;
          out += mode === 'lmtp' ? '250 2.0.0 Ok: saved\r\n'.repeat(rcpts) : '250 2.0.0 Ok: queued\r\n';
          rcpts = 0;
          continue;
        }
        text += rest.toString('latin1');
        rest = Buffer.alloc(0);
        let nl;
        while (!inData && (nl = text.indexOf('\n')) >= 0) {
          const line = text.slice(0, nl).replace(/\r$/, '');
          text = text.slice(nl + 1);
          out += command(line);
        }
        if (inData && text.length) {
          rest = Buffer.from(text, 'latin1');
          text = '';
        }
      }
      if (out) socket.write(out);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    stats,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
