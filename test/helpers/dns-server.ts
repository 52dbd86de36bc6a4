/**
 * A scripted DNS server on loopback, so tests can point a resolver (Node's `dns.promises.Resolver`
 * with `setServers([server.address])`, or anything that takes a "host:port" DNS server) at answers
 * they choose: records, NXDOMAIN, NODATA, SERVFAIL, or silence for timeouts. UDP and TCP on the same
 * ephemeral port; an answer too big for UDP is sent truncated (TC) so the client retries over TCP.
 *
 * Packets are encoded and decoded with `dns-packet`. `records` is live: names added or changed
 * after start are answered from then on. Every query received (UDP or TCP) is pushed to `queries`,
 * with the name as the client spelled it (without the trailing dot) and the type as a mnemonic.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { createRequire } from 'node:module';

export interface DnsRecords {
  [name: string]: {
    A?: string[];
    AAAA?: string[];
    MX?: Array<{ exchange: string; priority: number }>;
    TXT?: string[];
    PTR?: string[];
    CNAME?: string;
    SERVFAIL?: boolean;
    TIMEOUT?: boolean;
  };
}

export interface TestDnsServer {
  host: string;
  port: number;
  /** "127.0.0.1:PORT" */
  address: string;
  records: DnsRecords;
  queries: Array<{ name: string; type: string }>;
  close(): Promise<void>;
}

// dns-packet ships no type declarations; this is the part of its API used here.
interface Question {
  name: string;
  type: string;
  class?: string;
}
interface Answer {
  name: string;
  type: string;
  class?: string;
  ttl?: number;
  data?: unknown;
  udpPayloadSize?: number;
}
interface Packet {
  id?: number;
  type?: 'query' | 'response';
  flags?: number;
  flag_rd?: boolean;
  questions?: Question[];
  answers?: Answer[];
  authorities?: Answer[];
  additionals?: Answer[];
}
interface DnsPacketLib {
  encode(packet: Packet): Buffer;
  decode(buf: Buffer): Packet;
  AUTHORITATIVE_ANSWER: number;
  TRUNCATED_RESPONSE: number;
  RECURSION_DESIRED: number;
  RECURSION_AVAILABLE: number;
}
const dnsPacket = createRequire(import.meta.url)('dns-packet') as DnsPacketLib;

const HOST = '127.0.0.1';
const TTL = 60;
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
/** Plain DNS over UDP without EDNS0 (RFC 1035 §4.2.1). */
const UDP_LIMIT = 512;

const normalize = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** One TXT value as 255-byte character-strings in a single record (RFC 1035 §3.3.14). */
function txtChunks(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0) return [bytes];
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks;
}

type Entry = DnsRecords[string];

export async function startDnsServer(records: DnsRecords): Promise<TestDnsServer> {
  const queries: TestDnsServer['queries'] = [];
  // Looked up through `state` so that both mutating `records` and replacing `server.records` work.
  const state = { records };

  const lookup = (name: string): Entry | undefined => {
    const wanted = normalize(name);
    for (const [key, entry] of Object.entries(state.records)) if (normalize(key) === wanted) return entry;
    // A "*.suffix" key answers for any name below the suffix that has no record of its own.
    for (const [key, entry] of Object.entries(state.records)) {
      const k = normalize(key);
      if (k.startsWith('*.') && wanted.endsWith(k.slice(1))) return entry;
    }
    return undefined;
  };

  /** The records of `type` held by `entry`, owned by `owner` (the name as asked). */
  const recordsOf = (owner: string, entry: Entry, type: string): Answer[] => {
    const rr = (data: unknown): Answer => ({ name: owner, type, class: 'IN', ttl: TTL, data });
    switch (type) {
      case 'A':
        return (entry.A ?? []).map(rr);
      case 'AAAA':
        return (entry.AAAA ?? []).map(rr);
      case 'MX':
        return (entry.MX ?? []).map((mx) => rr({ preference: mx.priority, exchange: mx.exchange }));
      case 'TXT':
        return (entry.TXT ?? []).map((value) => rr(txtChunks(value)));
      case 'PTR':
        return (entry.PTR ?? []).map(rr);
      case 'CNAME':
        return entry.CNAME === undefined ? [] : [rr(entry.CNAME)];
      default:
        return [];
    }
  };

  /** The answer to one query, or undefined to stay silent (TIMEOUT). */
  const answer = (query: Packet, maxSize: number): Buffer | undefined => {
    const questions = query.questions ?? [];
    for (const q of questions) queries.push({ name: q.name.replace(/\.$/, ''), type: q.type });
    const reply = (rcode: number, answers: Answer[] = [], truncated = false): Buffer => {
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
    let entry = lookup(q.name);
    if (entry?.TIMEOUT) return undefined;
    if (entry?.SERVFAIL) return reply(RCODE.SERVFAIL);
    if (entry === undefined) return reply(RCODE.NXDOMAIN);

    // Follow CNAMEs the way a recursive resolver would, as far as the records go.
    const answers: Answer[] = [];
    let owner = q.name.replace(/\.$/, '');
    const seen = new Set<string>();
    while (q.type !== 'CNAME' && entry?.CNAME !== undefined && !seen.has(normalize(owner))) {
      seen.add(normalize(owner));
      answers.push(...recordsOf(owner, entry, 'CNAME'));
      owner = entry.CNAME;
      entry = lookup(owner);
      if (entry?.TIMEOUT) return undefined;
      if (entry?.SERVFAIL) return reply(RCODE.SERVFAIL);
    }
    if (entry === undefined) return reply(RCODE.NXDOMAIN, answers);
    answers.push(...recordsOf(owner, entry, q.type));

    const full = reply(RCODE.NOERROR, answers);
    return full.length > maxSize ? reply(RCODE.NOERROR, [], true) : full;
  };

  // UDP and TCP on one ephemeral port: bind UDP first, then TCP on the same number (retry if taken).
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  const connections = new Set<net.Socket>();
  for (let attempt = 0; attempt < 20 && tcp === undefined; attempt++) {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, HOST, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const server = net.createServer();
    const listened = await new Promise<boolean>((resolve) => {
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
    let query: Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return; // not DNS: drop it, as a server would
    }
    const opt = (query.additionals ?? []).find((a) => a.type === 'OPT');
    const limit = opt ? Math.max(UDP_LIMIT, opt.udpPayloadSize ?? UDP_LIMIT) : UDP_LIMIT;
    const out = answer(query, limit);
    if (out) udp?.send(out, rinfo.port, rinfo.address);
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
        let query: Packet;
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

  const udpSocket = udp;
  const tcpServer = tcp;
  let closing: Promise<void> | undefined;
  return {
    host: HOST,
    port,
    address: `${HOST}:${port}`,
    get records() {
      return state.records;
    },
    set records(value: DnsRecords) {
      state.records = value;
    },
    queries,
    close() {
      closing ??= Promise.all([
        new Promise<void>((resolve) => udpSocket.close(() => resolve())),
        new Promise<void>((resolve) => {
          for (const c of connections) c.destroy();
          tcpServer.close(() => resolve());
        }),
      ]).then(() => undefined);
      return closing;
    },
  };
}
