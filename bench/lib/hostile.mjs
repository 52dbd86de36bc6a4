/**
 * Large and hostile messages, each built to stress one part of the path a message takes through the
 * ingest (header parsing, MIME structure, the classifier's parser, mailauth's DKIM verifier, charset
 * decoding, storage of the raw bytes). All are CRLF, not yet dot-stuffed (see workload.toWire).
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { BENCH_USER, mulberry32 } from './workload.mjs';

export const DKIM_DOMAIN = 'dkim.bench.test';

/** An RSA key for the DKIM case; its public half is served by the bench DNS for every selector. */
export function dkimKey() {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return { txt: `v=DKIM1; k=rsa; p=${p}` };
}

const WORDS = 'the quick brown fox jumps over lazy dog mail server message invoice meeting lunch report offer free money click here unsubscribe weekly update'.split(' ');

/** `bytes` of plain text in lines of about 70 characters (no trailing spaces, so relaxed == simple). */
function textLines(bytes, seed = 1) {
  const rnd = mulberry32(seed);
  const lines = [];
  let size = 0;
  while (size < bytes) {
    let line = '';
    while (line.length < 70) line += (line ? ' ' : '') + WORDS[Math.floor(rnd() * WORDS.length)];
    lines.push(line);
    size += line.length + 2;
  }
  return lines.join('\r\n') + '\r\n';
}

function head(sender, subject, extra = '') {
  return (
    `Received: from mx.remote.bench.test (mx.remote.bench.test [203.0.113.7])\r\n\tby mx.crgate.bench.test (Postfix) with ESMTP id H${randomBytes(5).toString('hex').toUpperCase()}\r\n\tfor <${BENCH_USER}>; ${new Date().toUTCString()}\r\n` +
    `From: ${sender}\r\nTo: ${BENCH_USER}\r\nSubject: ${subject}\r\nDate: ${new Date().toUTCString()}\r\n` +
    `Message-ID: <${randomBytes(8).toString('hex')}@remote.bench.test>\r\nMIME-Version: 1.0\r\n${extra}`
  );
}

/** A 50 MB message: a short text part and an attachment, base64 in 76-character lines. */
export function bigMessage(sender, totalBytes = 50 * 1024 * 1024) {
  const b64Bytes = totalBytes - 2048;
  const payload = randomBytes(Math.floor((b64Bytes * 3) / 4 / 1.026)).toString('base64');
  const lines = [];
  for (let i = 0; i < payload.length; i += 76) lines.push(payload.slice(i, i + 76));
  const raw =
    head(sender, 'The files you asked for', 'Content-Type: multipart/mixed; boundary="big-b"\r\n') +
    '\r\n--big-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere they are.\r\n' +
    '--big-b\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="data.bin"\r\n\r\n' +
    lines.join('\r\n') +
    '\r\n--big-b--\r\n';
  return Buffer.from(raw, 'latin1');
}

/** One 2 MB line of 8-bit text (UTF-8 words mixed with stray high bytes), no line break. */
export function longEightBitLine(sender, bytes = 2 * 1024 * 1024) {
  const rnd = mulberry32(3);
  const words = ['héllo', 'wörld', 'naïve', 'façade', 'Grüße', 'žluťoučký', 'кошка', '東京', 'ñandú'].map((w) => Buffer.from(w, 'utf8'));
  const parts = [];
  let size = 0;
  while (size < bytes) {
    const w = rnd() < 0.1 ? Buffer.from([0x80 + Math.floor(rnd() * 0x7f)]) : words[Math.floor(rnd() * words.length)];
    parts.push(w, Buffer.from(' '));
    size += w.length + 1;
  }
  return Buffer.concat([
    Buffer.from(
      head(sender, 'one long line', 'Content-Type: multipart/mixed; boundary="l8"\r\n') +
        '\r\n--l8\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
      'latin1',
    ),
    ...parts,
    Buffer.from('\r\n--l8--\r\n', 'latin1'),
  ]);
}

/** multipart/mixed nested `depth` levels deep, a text part at the bottom. */
export function deepMime(sender, depth = 1000) {
  let open = '';
  let close = '';
  for (let i = 1; i < depth; i++) {
    open += `--n${i - 1}\r\nContent-Type: multipart/mixed; boundary="n${i}"\r\n\r\n`;
    close = `--n${i}--\r\n` + close;
  }
  const raw =
    head(sender, 'nested', 'Content-Type: multipart/mixed; boundary="n0"\r\n') +
    '\r\n' +
    open +
    `--n${depth - 1}\r\nContent-Type: text/plain\r\n\r\nAt the bottom.\r\n` +
    close +
    '--n0--\r\n';
  return Buffer.from(raw, 'latin1');
}

/** 100,000 header lines before the usual ones. */
export function manyHeaders(sender, count = 100_000) {
  const lines = [];
  for (let i = 0; i < count; i++) lines.push(`X-Filler-${i}: value ${i} of the header flood`);
  const raw = lines.join('\r\n') + '\r\n' + head(sender, 'headers', 'Content-Type: text/plain\r\n') + '\r\n' + textLines(2000);
  return Buffer.from(raw, 'latin1');
}

/** A text part whose base64 is one line of `bytes` (no line breaks at all). */
export function hugeBase64Line(sender, bytes = 10 * 1024 * 1024) {
  const text = textLines(Math.floor((bytes * 3) / 4), 5);
  const raw =
    head(sender, 'base64 in one line', 'Content-Type: multipart/alternative; boundary="b64"\r\n') +
    '\r\n--b64\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
    Buffer.from(text).toString('base64') +
    '\r\n--b64\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
    Buffer.from(`<html><body><p>${text.slice(0, 1024 * 1024)}</p></body></html>`).toString('base64') +
    '\r\n--b64--\r\n';
  return Buffer.from(raw, 'latin1');
}

/**
 * `count` DKIM-Signature fields over a 1 MB body, each with its own selector (one DNS lookup and one
 * RSA verification each) and its own l= (one more canonicalised body hash each: mailauth keeps a
 * hasher per canonicalisation, algorithm and length). bh= is right, b= is not.
 */
export function dkimBomb(sender, count = 200, bodyBytes = 1024 * 1024) {
  const body = textLines(bodyBytes, 9);
  const bodyBuf = Buffer.from(body, 'latin1');
  const sigs = [];
  for (let i = 0; i < count; i++) {
    const l = bodyBuf.length - i * 7;
    const algo = i % 2 ? 'sha1' : 'sha256';
    const canon = i % 4 < 2 ? 'relaxed/relaxed' : 'simple/simple';
    const bh = createHash(algo).update(bodyBuf.subarray(0, l)).digest('base64');
    const b = randomBytes(256).toString('base64');
    sigs.push(
      `DKIM-Signature: v=1; a=rsa-${algo}; c=${canon}; d=${DKIM_DOMAIN}; s=s${i};\r\n` +
        `\tt=${Math.floor(Date.now() / 1000)}; l=${l}; h=from:to:subject:date:message-id:from:to:subject;\r\n` +
        `\tbh=${bh};\r\n\tb=${b}\r\n`,
    );
  }
  const raw = sigs.join('') + head(sender, 'signed many times', 'Content-Type: text/plain; charset=us-ascii\r\n') + '\r\n' + body;
  return Buffer.from(raw, 'latin1');
}

/** Charsets that do not exist or are used wrongly: encoded words, a UTF-7 part, broken ISO-2022-JP. */
export function badCharsets(sender) {
  const words = [];
  for (let i = 0; i < 200; i++) words.push(`=?x-no-such-charset-${i}?B?${Buffer.from('bogus words').toString('base64')}?=`);
  const subject = `=?utf-7?Q?+AGEAYgBj-broken+ZZZ?= ${words.slice(0, 50).join(' ')}`;
  const seven = ('+AGEAYgBj- +ZZZZZZZ +/v8- +2D3cAQ- +AAAAAAAAAA-' + ' hello ').repeat(20_000);
  const jis = Buffer.concat(Array.from({ length: 20_000 }, () => Buffer.from([0x1b, 0x24, 0x42, 0x30, 0x21, 0x1b, 0x28, 0x4a, 0x1b, 0x24, 0x29, 0x43, 0xff, 0x20, 0x0d, 0x0a])));
  return Buffer.concat([
    Buffer.from(
      head(sender, subject, `X-Names: ${words.join(' ')}\r\nContent-Type: multipart/mixed; boundary="cs"\r\n`) +
        '\r\n--cs\r\nContent-Type: text/plain; charset="utf-7"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
        seven +
        '\r\n--cs\r\nContent-Type: text/plain; charset="iso-2022-jp"\r\n\r\n',
      'latin1',
    ),
    jis,
    Buffer.from(
      '--cs\r\nContent-Type: text/html; charset="\u00ff\u00fe-\u0000bad"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n' +
        '=C3=28=A0=A1=E2=28=A1=F0=90=28=BC '.repeat(20_000) +
        '\r\n--cs\r\nContent-Type: text/plain; charset="utf-32"; format=flowed\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
        randomBytes(300_000).toString('base64').replace(/.{76}/g, '$&\r\n') +
        '\r\n--cs--\r\n',
      'latin1',
    ),
  ]);
}

/** An HTML part of 1 MB of nested tags (the classifier's html-to-text and mailparser). */
export function htmlTagSoup(sender, depth = 100_000) {
  const html = '<div><span><b>'.repeat(Math.floor(depth / 3)) + 'deep' + '</b></span></div>'.repeat(Math.floor(depth / 3));
  const raw =
    head(sender, 'tag soup', 'Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n') +
    '\r\n' +
    html.replace(/.{900}/g, '$&\r\n') +
    '\r\n';
  return Buffer.from(raw, 'latin1');
}

export const HOSTILE_CASES = [
  { name: '2 MB single-line 8-bit part', build: longEightBitLine },
  { name: 'MIME nested 1,000 deep', build: deepMime },
  { name: '100,000 header lines', build: manyHeaders },
  { name: 'huge base64 line (10 MB)', build: hugeBase64Line },
  { name: 'DKIM: 200 signatures, distinct l= and selectors, 1 MB body', build: dkimBomb },
  { name: 'malformed charsets (encoded words, UTF-7, ISO-2022-JP, QP)', build: badCharsets },
  { name: 'HTML: 100,000 nested tags', build: htmlTagSoup },
];
