import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_LENGTH, MAX_TOKENS_PER_MESSAGE, tokenize } from '../src/index.js';

async function tokensOf(fixture: string): Promise<string[]> {
  return tokenize(await readFile(new URL(`./fixtures/${fixture}`, import.meta.url)));
}

function message(lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'));
}

describe('tokenizer on real mail', () => {
  it('decodes a base64 HTML-only spam and reads its words, not its markup', async () => {
    const tokens = await tokensOf('base64-html-spam.eml');
    expect(tokens).toEqual(expect.arrayContaining(['programimiz', 'kullanarak', 'tiklayiniz', 'content-type:text/html']));
    expect(tokens.filter((t) => t.includes('<') || t.includes('face='))).toEqual([]);
  });

  it('drops NUL bytes from its tokens, which the token store could not keep', async () => {
    const tokens = await tokenize(message(['From: N\u0000ul <nul@example.test>', 'Subject: nu\u0000ll here', 'X-Mailer: Mail\u0000er 1.0', '', 'bo\u0000dy and more', '']));
    expect(tokens.filter((t) => t.includes('\u0000'))).toEqual([]);
    expect(tokens).toEqual(expect.arrayContaining(['body', 'x-mailer:mailer #.#']));
  });

  it('emits no token with half an emoji, which the token store would keep as U+FFFD and never find again', async () => {
    const subject = Buffer.from('🔥🔥🔥 Sale 🔥🔥🤑').toString('base64');
    const tokens = await tokenize(message([`From: a@b.example`, `Subject: =?UTF-8?B?${subject}?=`, '', '😀😀😀😀😀😀😀 &#xD800;abc', '']));
    expect(tokens.filter((t) => !t.isWellFormed())).toEqual([]);
  });

  it('cuts a token carrying a whole header value, which PostgreSQL could not index', async () => {
    const folded = Array.from({ length: 45 }, (_, i) => `part${i}${'q'.repeat(60)}`).join('\r\n ');
    const raw = message(['From: a@b.example', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=B', '', '--B', 'Content-Type: text/plain', '', 'hi', '--B',
      `Content-Type: application/${folded}`, 'Content-Disposition: attachment; filename=a.bin', '', 'AAAA', '--B--', '']);
    const tokens = await tokenize(raw);
    expect(tokens.some((t) => t.includes('part0'))).toBe(true);
    expect(Math.max(...tokens.map((t) => t.length))).toBeLessThanOrEqual(MAX_TOKEN_LENGTH + 1);
  });

  it('reads a charset name that a quoted-printable soft line break cut in two', async () => {
    const raw = message(['From: a@b.example', 'MIME-Version: 1.0', 'Content-Type: text/html', 'Content-Transfer-Encoding: quoted-printable', '',
      '<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dwindows-=', '1252"></head><body>Hello</body></html>', '']);
    const tokens = await tokenize(raw);
    expect(tokens).toContain('charset:windows-1252');
    expect(tokens).not.toContain('charset:windows-');
  });

  it('turns a link into tokens for its host, the host’s parents down to the TLD, and its path', async () => {
    const tokens = await tokensOf('base64-html-spam.eml');
    expect(tokens).toEqual(
      expect.arrayContaining(['proto:http', 'url:www.garantisms.com', 'url:garantisms.com', 'url:com', 'url-path:smstr', 'url-path:exe']),
    );
  });

  it('joins quoted-printable soft line breaks and decodes =XX escapes', async () => {
    const tokens = await tokensOf('quoted-printable-signed-ham.eml');
    // "o=\r\nr directory" and "line 22.=20" in the raw text.
    expect(tokens).toEqual(expect.arrayContaining(['directory', '22.']));
    expect(tokens.filter((t) => t.endsWith('=') || t.includes('=20'))).toEqual([]);
  });

  it('keeps Subject words with their case, under a subject: prefix', async () => {
    const tokens = await tokensOf('quoted-printable-signed-ham.eml');
    expect(tokens).toEqual(expect.arrayContaining(['subject:SpamAssassin', 'subject:released', 'subject:SAdev']));
  });

  it('describes the sender by address, domain and name, and the recipients by count', async () => {
    const tokens = await tokensOf('quoted-printable-signed-ham.eml');
    expect(tokens).toEqual(
      expect.arrayContaining(['from:addr:felicity@kluge.net', 'from:domain:kluge.net', 'from:name:theo van dinter', 'to:2**0', 'cc:2**0']),
    );
  });

  it('gives the mail program with version numbers folded, and the Message-ID by domain and shape', async () => {
    const tokens = await tokensOf('quoted-printable-signed-ham.eml');
    expect(tokens).toEqual(expect.arrayContaining(['user-agent:mutt/#.#i', 'message-id:@kluge.net', 'message-id:from-domain', 'message-id:shape:D.X']));
  });

  it('takes the sending host from Received by base domain and /16, skipping the site’s private relays', async () => {
    const tokens = await tokensOf('quoted-printable-signed-ham.eml');
    expect(tokens).toEqual(expect.arrayContaining(['received:kluge.net', 'received:ip:66.92']));
    expect(tokens.filter((t) => t.startsWith('received:ip:127.'))).toEqual([]);
  });

  it('lists every MIME part by type, a PGP signature included', async () => {
    const tokens = await tokensOf('quoted-printable-signed-ham.eml');
    expect(tokens).toEqual(
      expect.arrayContaining(['content-type:multipart/signed', 'content-type:text/plain', 'attachment:type:application/pgp-signature', 'charset:us-ascii']),
    );
  });

  it('accepts an mbox From line before the headers and CRLF line ends', async () => {
    const tokens = await tokensOf('mbox-crlf-spam.eml');
    expect(tokens).toEqual(
      expect.arrayContaining(['from:addr:donahue@flycell.com', 'subject:Give', 'user-agent:thunderbird #.#.#.# (windows/#)', 'crazy', 'url:ivhexliqs.net']),
    );
    expect(tokens.filter((t) => t.includes('\r'))).toEqual([]);
  });

  it('says when the Return-Path is null', async () => {
    expect(await tokensOf('mbox-crlf-spam.eml')).toContain('return-path:null');
  });

  it('names an attachment by its declared type, disposition and file-name extension', async () => {
    const tokens = await tokensOf('attachment-spam.eml');
    expect(tokens).toEqual(
      expect.arrayContaining(['content-type:application/octet-stream', 'content-disposition:attachment', 'filename:ext:lst', 'filename:name:mailxs_list.lst']),
    );
    expect(tokens).toEqual(expect.arrayContaining(['business', 'proposal', 'transaction.']));
  });

  it('still reads a multipart whose closing boundary never comes', async () => {
    const tokens = await tokensOf('unterminated-multipart-spam.eml');
    expect(tokens).not.toContain('control:parse-error');
    expect(tokens).toEqual(expect.arrayContaining(['mortgage', 'approved.', 'subject:Mortgage', 'url:ip', 'url-path:remove']));
  });

  it('counts a token once however often the message repeats it', async () => {
    for (const fixture of ['base64-html-spam.eml', 'quoted-printable-signed-ham.eml', 'attachment-spam.eml']) {
      const tokens = await tokensOf(fixture);
      expect(new Set(tokens).size).toBe(tokens.length);
    }
  });
});

describe('tokenizer rules', () => {
  it('keeps words of 3 to 12 characters, summarises longer ones and splits e-mail addresses in two', async () => {
    const tokens = await tokenize(
      message(['From: a@example.org', 'Subject: words', '', 'an ox ate supercalifragilistic words; mail someone@mail.example.org now']),
    );
    expect(tokens).toEqual(expect.arrayContaining(['ate', 'words;', 'skip:s 20', 'email name:someone', 'email addr:mail.example.org', 'now']));
    expect(tokens).not.toContain('an');
    expect(tokens).not.toContain('ox');
  });

  it('reads words through tags that split them, and breaks lines where a browser would', async () => {
    const tokens = await tokenize(
      message(['From: a@example.org', 'Content-Type: text/html', '', '<p>Cheap V<b></b>iagra FR<!-- x -->EE</p><p>pills</p><td>today</td><td>only</td>']),
    );
    expect(tokens).toEqual(expect.arrayContaining(['viagra', 'free', 'pills', 'today', 'only']));
    expect(tokens).not.toContain('pillstoday');
  });

  it('ignores a spam verdict an earlier filter wrote into the Subject', async () => {
    const tokens = await tokenize(message(['From: a@example.org', 'Subject: [SPAM] [spam] cheap watches', '', 'hello there']));
    expect(tokens).toEqual(expect.arrayContaining(['subject:cheap', 'subject:watches']));
    expect(tokens.filter((t) => /^subject:.*spam/i.test(t))).toEqual([]);
  });

  it('stops at a fixed number of distinct tokens', async () => {
    const words = Array.from({ length: 10_000 }, (_, i) => `word${i}`).join(' ');
    const tokens = await tokenize(message(['From: a@example.org', 'Subject: many', '', words]));
    expect(tokens).toHaveLength(MAX_TOKENS_PER_MESSAGE);
    expect(tokens).toContain('subject:many');
  });

  it('never throws: binary junk, an empty buffer and a lone mbox line all still give tokens', async () => {
    const junk = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256));
    for (const raw of [junk, Buffer.alloc(0), Buffer.from('From someone@example.org Mon Jan  1 00:00:00 2001\n')]) {
      const tokens = await tokenize(raw);
      expect(tokens.length).toBeGreaterThan(0);
    }
  });
});
