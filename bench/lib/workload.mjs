/**
 * The benchmark's mail: which corpus files train the classifier and which are sent, and the envelope
 * of the i-th message sent. Deterministic (seeded), so every run and every process (the bench and its
 * load generator) agree without passing messages around.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BENCH_DOMAIN = 'crgate.bench.test';
export const BENCH_USER = `bench@${BENCH_DOMAIN}`;
/** What the load generator forwards with XFORWARD (Postfix's lmtp_send_xforward_command); SPF allows it. */
export const CLIENT = { addr: '203.0.113.7', helo: 'mx.remote.bench.test' };

/** Sizes of the sender populations. */
export const WHITELIST_SIZE = 1_000_000;
export const BLACKLIST_SIZE = 1_000;
export const UNKNOWN_SENDERS = 5_000;

/** The share of messages from each kind of sender; the rest come from unknown senders. */
export const MIX = { whitelisted: 0.3, blacklisted: 0.05 };

export const whitelistedSender = (k) => `w${k}@d${k % 1000}.wl.bench.test`;
export const blacklistedSender = (k) => `b${k}@d${k % 50}.bl.bench.test`;
export const unknownSender = (k) => `u${k}@d${k % 200}.ext.bench.test`;

/** SQL (parameter $1 = user id) that fills the lists; the value expressions match the functions above. */
export const WHITELIST_SQL = `INSERT INTO list_entries (user_id, list, kind, value, source)
  SELECT $1, 'white', 'address', 'w' || g || '@d' || (g % 1000) || '.wl.bench.test', 'import'
    FROM generate_series(0, ${WHITELIST_SIZE - 1}) AS g`;
export const BLACKLIST_SQL = `INSERT INTO list_entries (user_id, list, kind, value, source)
  SELECT $1, 'black', 'address', 'b' || g || '@d' || (g % 50) || '.bl.bench.test', 'manual'
    FROM generate_series(0, ${BLACKLIST_SIZE - 1}) AS g`;

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled(list, seed) {
  const rnd = mulberry32(seed);
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Training files (500 + 500 by default) and, disjoint from them, the files sent (100 + 100). */
export function corpusSets(corpusDir, { train = 500, load = 100, seed = 42 } = {}) {
  const pick = (folder) => {
    const files = readdirSync(join(corpusDir, folder)).filter((f) => f.endsWith('.eml')).sort();
    const mixed = shuffled(files, seed).map((f) => join(corpusDir, folder, f));
    if (mixed.length < train + load) throw new Error(`${folder}: ${mixed.length} files, need ${train + load}`);
    return { train: mixed.slice(0, train), load: mixed.slice(train, train + load) };
  };
  const ham = pick('ham');
  const spam = pick('spam');
  // Sent in an interleaved order, so every stretch of the run has the same mix.
  const loadFiles = shuffled([...ham.load, ...spam.load], seed + 1);
  return { trainHam: ham.train, trainSpam: spam.train, loadFiles };
}

/** The envelope sender of the i-th message sent and what kind of sender it is. */
export function envelopeFor(i, seed = 7) {
  const rnd = mulberry32((seed * 1_000_003 + i) >>> 0);
  rnd();
  const r = rnd();
  const k = rnd();
  if (r < MIX.whitelisted) return { kind: 'whitelisted', sender: whitelistedSender(Math.floor(k * WHITELIST_SIZE)) };
  if (r < MIX.whitelisted + MIX.blacklisted) return { kind: 'blacklisted', sender: blacklistedSender(Math.floor(k * BLACKLIST_SIZE)) };
  return { kind: 'unknown', sender: unknownSender(Math.floor(k * UNKNOWN_SENDERS)) };
}

/**
 * A corpus file made ready to send: mbox "From " line dropped, line ends made CRLF, the From:, To:
 * and Cc: fields removed (the sender fills in its own), dot-stuffed. `rest` ends with CRLF.
 */
export function prepareCorpusMessage(raw) {
  let text = raw.toString('latin1');
  if (text.startsWith('From ')) text = text.slice(text.indexOf('\n') + 1);
  text = text.replace(/\r?\n/g, '\r\n');
  let headerEnd = text.indexOf('\r\n\r\n');
  if (headerEnd < 0) headerEnd = text.length;
  const header = text.slice(0, headerEnd);
  const body = text.slice(headerEnd);
  const kept = [];
  let skipping = false;
  for (const line of header.split('\r\n')) {
    if (/^[ \t]/.test(line)) {
      if (!skipping) kept.push(line);
      continue;
    }
    skipping = /^(from|to|cc):/i.test(line);
    if (!skipping) kept.push(line);
  }
  let rest = kept.join('\r\n') + body;
  if (!rest.endsWith('\r\n')) rest += '\r\n';
  rest = rest.replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(rest, 'latin1');
}

/** Loads and prepares the files to send. */
export function loadMessages(files) {
  return files.map((f) => prepareCorpusMessage(readFileSync(f)));
}

const DATE = new Date().toUTCString().replace(/GMT$/, '+0000');

/**
 * The i-th message on the wire, as the MTA hands it over: its Received line (unique per message,
 * so crgate's retry detection by SHA-256 never mistakes two sends for one), From: the envelope
 * sender, To: the bench user, then the corpus message; dot-stuffed and terminated.
 */
export function wireMessage(i, prepared, sender, rcpt = BENCH_USER) {
  const head =
    `Received: from ${CLIENT.helo} (${CLIENT.helo} [${CLIENT.addr}])\r\n` +
    `\tby mx.${BENCH_DOMAIN} (Postfix) with ESMTP id B${i.toString(16).toUpperCase()}\r\n` +
    `\tfor <${rcpt}>; ${DATE}\r\n` +
    `From: ${sender}\r\nTo: ${rcpt}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), prepared, Buffer.from('.\r\n', 'latin1')]);
}

/** Dot-stuffs and terminates an arbitrary message (CRLF line ends expected). */
export function toWire(raw) {
  let buf = raw;
  if (!(buf.length >= 2 && buf[buf.length - 2] === 0x0d && buf[buf.length - 1] === 0x0a)) buf = Buffer.concat([buf, Buffer.from('\r\n')]);
  // Dot-stuffing only where a line starts with "."; scanning keeps this linear for huge inputs.
  const parts = [];
  let from = 0;
  if (buf[0] === 0x2e) {
    parts.push(Buffer.from('.'));
  }
  let at = buf.indexOf('\n.');
  while (at >= 0) {
    parts.push(buf.subarray(from, at + 1), Buffer.from('.'));
    from = at + 1;
    at = buf.indexOf('\n.', from);
  }
  parts.push(buf.subarray(from), Buffer.from('.\r\n'));
  return Buffer.concat(parts);
}
