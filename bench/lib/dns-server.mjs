/**
 * A minimal authoritative DNS server on loopback for the benchmark, ported from
 * test/helpers/dns-server.ts: UDP and TCP on one ephemeral port, answers encoded with `dns-packet`,
 * answers too big for UDP sent truncated (TC) so the resolver retries over TCP.
 *
 * Instead of a record table it asks `answerFor(name, type)`, which returns
 *   { records: [...] }            NOERROR with these records (an empty list is NODATA),
 *   { nxdomain: true }            NXDOMAIN,
 *   { servfail: true }            SERVFAIL,
 *   { timeout: true }             no answer at all.
 * Records are { type, data } in dns-packet's data format (MX: { preference, exchange }, TXT: string).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { createRequire } from 'node:module';

const dnsPacket = createRequire(import.meta.url)('dns-packet');

const HOST = '127.0.0.1';
const TTL = 300;
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 };
const UDP_LIMIT = 512;

/** One TXT value as 255-byte character-strings in a single record (RFC 1035 §3.3.14). */
function txtChunks(value) {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0) return [bytes];
  const chunks = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks;
}

export async function startDnsServer(answerFor) {
  const stats = { queries: 0 };

  const answer = (query, maxSize) => {
    const questions = query.questions ?? [];
    stats.queries += questions.length;
    const reply = (rcode, answers = [], truncated = false) => {
      const ednsIn = (query.additionals ?? []).some((a) => a.type === 'OPT');
      let flags = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | rcode;
      if ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) flags |= dnsPacket.RECURSION_DESIRED;
      if (truncated) flags |= dnsPacket.TRUNCATED_RESPONSE;
      return dnsPacket.encode({
        id: query.id ?? 0,
        type: 'response',
        flags,
        questions,
        answers,
        additionals: ednsIn ? [{ name: '.', type: 'OPT', udpPayloadSize: 4096 }] : [],
      });
    };
    const q = questions[0];
    if (questions.length !== 1 || q === undefined) return reply(RCODE.NOTIMP);
    const name = q.name.replace(/\.$/, '');
    const result = answerFor(name.toLowerCase(), q.type) ?? { nxdomain: true };
    if (result.timeout) return undefined;
    if (result.servfail) return reply(RCODE.SERVFAIL);
    if (result.nxdomain) return reply(RCODE.NXDOMAIN);
    const answers = (result.records ?? []).map((r) => ({
      name,
      type: r.type,
      class: 'IN',
      ttl: TTL,
      data: r.type === 'TXT' ? txtChunks(r.data) : r.data,
    }));
    const full = reply(RCODE.NOERROR, answers);
    return full.length > maxSize ? reply(RCODE.NOERROR, [], true) : full;
  };

  let udp;
  let tcp;
  const connections = new Set();
  for (let attempt = 0; attempt < 20 && tcp === undefined; attempt++) {
    const socket = dgram.createSocket('udp4');
    await new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, HOST, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const server = net.createServer();
    const listened = await new Promise((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(socket.address().port, HOST, () => resolve(true));
    });
    if (listened) {
      udp = socket;
      tcp = server;
    } else {
      socket.close();
    }
  }
  if (udp === undefined || tcp === undefined) throw new Error('no free port for UDP and TCP together');
  const port = udp.address().port;

  udp.on('message', (msg, rinfo) => {
    let query;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const opt = (query.additionals ?? []).find((a) => a.type === 'OPT');
    const limit = opt ? Math.max(UDP_LIMIT, opt.udpPayloadSize ?? UDP_LIMIT) : UDP_LIMIT;
    const out = answer(query, limit);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  udp.on('error', () => undefined);

  tcp.on('connection', (conn) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    conn.on('error', () => conn.destroy());
    let pending = Buffer.alloc(0);
    conn.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const size = pending.readUInt16BE(0);
        if (pending.length < 2 + size) break;
        const msg = pending.subarray(2, 2 + size);
        pending = pending.subarray(2 + size);
        let query;
        try {
          query = dnsPacket.decode(msg);
        } catch {
          conn.destroy();
          return;
        }
        const out = answer(query, 0xffff);
        if (out) {
          const framed = Buffer.alloc(2 + out.length);
          framed.writeUInt16BE(out.length, 0);
          out.copy(framed, 2);
          conn.write(framed);
        }
      }
    });
  });

  let closing;
  return {
    host: HOST,
    port,
    address: `${HOST}:${port}`,
    stats,
    close() {
      closing ??= Promise.all([
        new Promise((resolve) => udp.close(() => resolve())),
        new Promise((resolve) => {
          for (const c of connections) c.destroy();
          tcp.close(() => resolve());
        }),
      ]).then(() => undefined);
      return closing;
    },
  };
}
