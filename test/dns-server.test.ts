/**
 * The scripted DNS server of test/helpers/dns-server.ts, seen through Node's own resolver: what each
 * kind of record entry answers, and how unknown names, missing types, SERVFAIL and TIMEOUT come out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as dns } from 'node:dns';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';

interface DecodedReply {
  rcode: string;
  questions: Array<{ name: string; type: string; class: string }>;
  answers: Array<{ name: string; type: string; ttl: number; data: unknown }>;
}
// dns-packet ships no type declarations; this is the part of its API used here.
const dnsPacket = createRequire(import.meta.url)('dns-packet') as {
  encode(packet: object): Buffer;
  decode(buf: Buffer): DecodedReply;
};

/** An SPF policy of exactly 400 bytes: too long for one TXT character-string (255 at most). */
const SPF_400 =
  'v=spf1' +
  Array.from({ length: 20 }, (_, i) => ` ip4:203.0.113.${100 + i}`).join('') +
  ' include:spf.mail.example.org -all';

describe('test DNS server', () => {
  let server: TestDnsServer;

  beforeAll(async () => {
    server = await startDnsServer({
      'mail.example.org': {
        A: ['192.0.2.10', '192.0.2.11'],
        AAAA: ['2001:db8::10'],
        MX: [
          { exchange: 'mx1.example.org', priority: 10 },
          { exchange: 'mx2.example.org', priority: 20 },
        ],
        TXT: ['hello world', 'second'],
      },
      'spf.example.org': { TXT: [SPF_400] },
      'big.example.org': { TXT: ['x'.repeat(5000)] },
      'Mixed.Example.ORG': { A: ['192.0.2.20'] },
      'alias.example.org': { CNAME: 'mail.example.org' },
      '10.2.0.192.in-addr.arpa': { PTR: ['mail.example.org'] },
      'broken.example.org': { SERVFAIL: true },
      'silent.example.org': { TIMEOUT: true },
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  /** One query over UDP, built with dns-packet, for what Node's resolver cannot send. */
  function rawUdpQuery(name: string, type: string): Promise<DecodedReply> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket('udp4');
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error('no answer'));
      }, 2000);
      socket.on('message', (msg) => {
        clearTimeout(timer);
        socket.close();
        resolve(dnsPacket.decode(msg));
      });
      const query = dnsPacket.encode({ id: 4242, type: 'query', flags: 0, questions: [{ name, type, class: 'IN' }] });
      socket.send(query, server.port, server.host);
    });
  }

  function resolver(options?: { timeout?: number; tries?: number }): dns.Resolver {
    const r = new dns.Resolver(options);
    r.setServers([server.address]);
    return r;
  }

  it('listens on 127.0.0.1 with an ephemeral port, and says so in address', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
  });

  it('answers A queries with every A record of the name', async () => {
    expect((await resolver().resolve4('mail.example.org')).sort()).toEqual(['192.0.2.10', '192.0.2.11']);
  });

  it('gives every record a TTL of 60 seconds', async () => {
    const answers = await resolver().resolve4('mail.example.org', { ttl: true });
    expect(answers.map((a) => a.ttl)).toEqual([60, 60]);
  });

  it('answers AAAA queries with the AAAA records', async () => {
    expect(await resolver().resolve6('mail.example.org')).toEqual(['2001:db8::10']);
  });

  it('answers MX queries with exchange and priority', async () => {
    const mx = await resolver().resolveMx('mail.example.org');
    expect(mx.map(({ exchange, priority }) => ({ exchange, priority })).sort((a, b) => a.priority - b.priority)).toEqual([
      { exchange: 'mx1.example.org', priority: 10 },
      { exchange: 'mx2.example.org', priority: 20 },
    ]);
  });

  it('answers TXT queries with one record per TXT value', async () => {
    const txt = await resolver().resolveTxt('mail.example.org');
    expect(txt.map((chunks) => chunks.join('')).sort()).toEqual(['hello world', 'second']);
  });

  it('splits a TXT value over 255 bytes into 255-byte strings of one record, which join back to the value', async () => {
    expect(Buffer.byteLength(SPF_400)).toBe(400);
    const txt = await resolver().resolveTxt('spf.example.org');
    expect(txt).toHaveLength(1);
    const [chunks] = txt as [string[]];
    expect(chunks.map((c) => c.length)).toEqual([255, 145]);
    expect(chunks.join('')).toBe(SPF_400);
  });

  it('sends an answer too big for UDP truncated, and answers the retry over TCP on the same port', async () => {
    const before = server.queries.filter((q) => q.name === 'big.example.org').length;
    const txt = await resolver().resolveTxt('big.example.org');
    expect(txt.map((chunks) => chunks.join(''))).toEqual(['x'.repeat(5000)]);
    const asked = server.queries.filter((q) => q.name === 'big.example.org').length - before;
    expect(asked).toBe(2); // once over UDP (truncated), once over TCP
  });

  it('answers PTR queries, so reverse lookups work', async () => {
    expect(await resolver().reverse('192.0.2.10')).toEqual(['mail.example.org']);
  });

  it('answers CNAME queries with the alias target', async () => {
    expect(await resolver().resolveCname('alias.example.org')).toEqual(['mail.example.org']);
  });

  it('follows a CNAME to the records of its target', async () => {
    expect((await resolver().resolve4('alias.example.org')).sort()).toEqual(['192.0.2.10', '192.0.2.11']);
  });

  it('answers NXDOMAIN for a name it does not know (ENOTFOUND)', async () => {
    await expect(resolver().resolve4('nowhere.example.org')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('answers NOERROR with no records for a known name without that type (ENODATA)', async () => {
    await expect(resolver().resolve6('spf.example.org')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(resolver().resolveMx('spf.example.org')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('answers SERVFAIL for every type of a SERVFAIL name (ESERVFAIL)', async () => {
    await expect(resolver().resolve4('broken.example.org')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    await expect(resolver().resolveTxt('broken.example.org')).rejects.toMatchObject({ code: 'ESERVFAIL' });
  });

  it('never answers a TIMEOUT name, so the resolver times out (ETIMEOUT)', async () => {
    const r = resolver({ timeout: 500, tries: 1 });
    await expect(r.resolve4('silent.example.org')).rejects.toMatchObject({ code: 'ETIMEOUT' });
  });

  it('matches names case-insensitively, whichever side has the capitals', async () => {
    expect(await resolver().resolve4('MAIL.Example.Org')).toHaveLength(2);
    expect(await resolver().resolve4('mixed.example.org')).toEqual(['192.0.2.20']);
  });

  it('matches a name sent in mixed case on the wire, and echoes it as sent', async () => {
    // Node's resolver lowercases names before sending, so this one query is built by hand.
    const reply = await rawUdpQuery('MiXeD.eXaMpLe.OrG', 'A');
    expect(reply.rcode).toBe('NOERROR');
    expect(reply.questions).toEqual([{ name: 'MiXeD.eXaMpLe.OrG', type: 'A', class: 'IN' }]);
    expect(reply.answers).toMatchObject([{ name: 'MiXeD.eXaMpLe.OrG', type: 'A', ttl: 60, data: '192.0.2.20' }]);
    expect(server.queries.at(-1)).toEqual({ name: 'MiXeD.eXaMpLe.OrG', type: 'A' });
  });

  it('matches a name asked with a trailing dot', async () => {
    expect(await resolver().resolve4('mixed.example.org.')).toEqual(['192.0.2.20']);
  });

  it('answers names added to records after start', async () => {
    await expect(resolver().resolve4('late.example.org')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    server.records['late.example.org'] = { A: ['192.0.2.99'] };
    expect(await resolver().resolve4('late.example.org')).toEqual(['192.0.2.99']);
  });

  it('records every query, answered or not, with its name and type', async () => {
    const before = server.queries.length;
    await resolver().resolveMx('mail.example.org');
    await resolver().resolve4('nowhere.example.org').catch(() => undefined);
    expect(server.queries.slice(before)).toEqual([
      { name: 'mail.example.org', type: 'MX' },
      { name: 'nowhere.example.org', type: 'A' },
    ]);
  });
});
