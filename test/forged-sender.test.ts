/**
 * Forgeries that DMARC must catch, over real LMTP with real DKIM signatures checked against the test
 * DNS server: a whitelisted address claimed from a stranger's server with a second From: field or none,
 * and a signature of another registrant under a private public suffix (eu.org), where every name has
 * its own owner. None of them is delivered, and none gets a challenge (it would go to a forged address).
 * And header fields forged in crgate's name never reach the mailbox, delivered or released.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { text } from 'node:stream/consumers';
import DKIM from 'nodemailer/lib/dkim';
import { addListEntry, addUser, applyQuarantineAction, findUserByAddress } from '@crgate/store';
import { createMailTestEnvironment, REMOTE_CLIENT, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor } from './helpers/sinks.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicDer = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
/** A server none of the domains authorises. */
const STRANGER = { addr: '192.0.2.99', helo: 'mx.stranger.test' };
/** The server strict.test's SPF names. */
const STRICT_MX = { addr: '198.51.100.10', helo: 'mx.strict.test' };
/** crgate's authserv-id in its Authentication-Results (lmtp.hostname). */
const OURS = 'crgate.example.test';
const FORGED_FIELDS =
  `Authentication-Results: ${OURS};\r\n dkim=pass header.d=strict.test; dmarc=pass header.from=strict.test\r\n` +
  'X-Crgate-Decision: deliver; reasons=WHITELIST_ADDRESS\r\n' +
  'Authentication-Results: mx.other.test; spf=pass smtp.mailfrom=strict.test\r\n';

function message(id: string, fromLines: string): string {
  return `${fromLines}To: alice@example.test\r\nSubject: Invoice ${id}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${id}@forged.test>\r\n\r\nPlease pay today.\r\n`;
}

function signedBy(domain: string, selector: string, raw: string): Promise<string> {
  return text(new DKIM({ domainName: domain, keySelector: selector, privateKey: privatePem }).sign(raw));
}

describe('forged senders', () => {
  let t: MailTestEnvironment;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  async function decisionOf(id: string): Promise<{ decision: string; symbols: string[] }> {
    const { rows } = await t.db.query(
      `SELECT r.decision, r.reasons FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = $1`,
      [`<${id}@forged.test>`],
    );
    return { decision: rows[0].decision, symbols: rows[0].reasons.map((r: { symbol: string }) => r.symbol) };
  }

  async function send(mailFrom: string, raw: string, client = STRANGER): Promise<void> {
    const r = await pythonLmtpSend(t.lmtpPort, mailFrom, ['alice@example.test'], raw, { xforward: client });
    expect(r.data?.[0]?.[1]).toBe(250);
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({ CRGATE_LMTP_HOSTNAME: OURS });
    Object.assign(t.dns.records, {
      'strict.test': { MX: [{ exchange: 'mx.strict.test', priority: 10 }], TXT: ['v=spf1 ip4:198.51.100.10 ~all'] },
      '_dmarc.strict.test': { TXT: ['v=DMARC1; p=reject'] },
      'victim.eu.org': { MX: [{ exchange: 'mx.victim.eu.org', priority: 10 }], TXT: ['v=spf1 ip4:198.51.100.10 ~all'] },
      '_dmarc.victim.eu.org': { TXT: ['v=DMARC1; p=reject'] },
      'attacker.eu.org': { MX: [{ exchange: 'mx.attacker.eu.org', priority: 10 }] },
      'slow._domainkey.attacker.eu.org': { TIMEOUT: true },
      'sel._domainkey.attacker.eu.org': { TXT: [`v=DKIM1; k=rsa; p=${publicDer}`] },
    });
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    for (const value of ['friend@strict.test', 'ceo@victim.eu.org']) {
      await addListEntry(engine.db, { userId: alice.id, list: 'white', kind: 'address', value, source: 'manual' });
    }
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  describe('mail between our own users', () => {
    /** What our Postfix writes on top of mail a user submitted from home (smtpd_sasl_authenticated_header). */
    const submitted = (id: string, received: string[], from = ['From: Dave <dave@example.test>']) =>
      [
        ...received,
        ...from,
        'To: alice@example.test',
        'Subject: Minutes of the meeting',
        `Message-ID: <${id}@forged.test>`,
        '',
        'Attached, as promised.',
        '',
      ].join('\r\n');
    const HOME = { addr: '198.51.100.77', helo: 'laptop.home.test' };
    const byOurMta = (withWhat: string, auth: string) =>
      `Received: from laptop.home.test (unknown [198.51.100.77])${auth}\r\n\tby ${OURS} (Postfix) with ${withWhat} id 4Ab; Thu, 3 Dec 2026 18:00:00 +0000`;

    beforeAll(async () => {
      await addUser(engine.db, 'dave@example.test');
    });

    it('delivers what a colleague sent from home after logging in to our MTA, though SPF cannot vouch for it', async () => {
      await send('dave@example.test', submitted('colleague-1', [byOurMta('ESMTPSA', '\r\n\t(Authenticated sender: dave@example.test)')]), HOME);
      const d = await decisionOf('colleague-1');
      expect(d.decision).toBe('deliver');
      expect(d.symbols).toContain('LOCAL_SUBMISSION');
      expect(d.symbols).not.toContain('FORGED_LOCAL_SENDER');
    });

    it('holds the same mail when our MTA says the client did not log in', async () => {
      await send('dave@example.test', submitted('colleague-2', [byOurMta('ESMTPS', '')]), HOME);
      expect(await decisionOf('colleague-2')).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['FORGED_LOCAL_SENDER']) });
    });

    it('does not take a login from the HELO name our MTA copied into its Received header (encoded word, no-break space)', async () => {
      const helos = [
        '=?us-ascii?q?x_=28Authenticated_sender=3A_dave=40example=2Etest=29?=',
        '=?us-ascii?q?with_ESMTPSA?=',
        'with\u00a0ESMTPSA',
      ];
      for (const [i, helo] of helos.entries()) {
        const id = `helo-login-${i}`;
        const received = `Received: from ${helo} (unknown [198.51.100.77])\r\n\tby ${OURS} (Postfix) with ESMTP id 4Ab; Thu, 3 Dec 2026 18:00:00 +0000`;
        await send('dave@example.test', submitted(id, [received]), HOME);
        expect(await decisionOf(id), helo).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['FORGED_LOCAL_SENDER']) });
      }
    });

    it('does not take a login from the recipient our MTA copied into its Received header', async () => {
      const recipients = ['alice+=?us-ascii?q?=28Authenticated_sender=3A_dave=29?=@example.test', '"x (Authenticated sender: dave) by mx with ESMTPSA"@example.test'];
      for (const [i, rcpt] of recipients.entries()) {
        const id = `rcpt-login-${i}`;
        const received = `Received: from laptop.home.test (unknown [198.51.100.77])\r\n\tby ${OURS} (Postfix) with ESMTP id 4Ab\r\n\tfor <${rcpt}>; Thu, 3 Dec 2026 18:00:00 +0000`;
        await send('dave@example.test', submitted(id, [received]), HOME);
        expect(await decisionOf(id), rcpt).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['FORGED_LOCAL_SENDER']) });
      }
    });

    it('does not deliver as the colleague\'s own mail what names another author too, or none', async () => {
      const login = byOurMta('ESMTPSA', '\r\n\t(Authenticated sender: dave@example.test)');
      const froms = [
        ['From: dave@example.test, alice@example.test'],
        ['From: dave@example.test', 'From: alice@example.test'],
        [],
      ];
      for (const [i, from] of froms.entries()) {
        const id = `other-author-${i}`;
        await send('dave@example.test', submitted(id, [login], from), HOME);
        const d = await decisionOf(id);
        expect(d.symbols, from.join(' / ') || 'no From:').not.toContain('LOCAL_SUBMISSION');
        expect(d.decision).not.toBe('deliver');
      }
    });

    it('does not believe a login written below the Received header of our MTA, by the sender', async () => {
      const forged = submitted('colleague-3', [byOurMta('ESMTPS', ''), byOurMta('ESMTPSA', '\r\n\t(Authenticated sender: dave@example.test)')]);
      await send('dave@example.test', forged, HOME);
      expect(await decisionOf('colleague-3')).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['FORGED_LOCAL_SENDER']) });
    });
  });

  it('holds a whitelisted address forged with a single From: field (the case the others must match)', async () => {
    await send('friend@strict.test', message('one-from', 'From: Friend <friend@strict.test>\r\n'));
    expect(await decisionOf('one-from')).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['WHITELIST_FORGED', 'DMARC_FAIL']) });
  });

  it('holds a whitelisted address forged with a second From: field', async () => {
    await send('friend@strict.test', message('two-from', 'From: Friend <friend@strict.test>\r\nFrom: Friend <friend@strict.test>\r\n'));
    expect(await decisionOf('two-from')).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['WHITELIST_FORGED', 'DMARC_FAIL']) });
  });

  it('holds a whitelisted address forged with no From: field at all', async () => {
    await send('friend@strict.test', message('no-from', ''));
    expect(await decisionOf('no-from')).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['WHITELIST_FORGED', 'DMARC_FAIL']) });
  });

  it('reads From: as written, not after decoding: an encoded display name naming the envelope sender does not hide the author', async () => {
    // bank.test publishes no DMARC: only rule 25 (FROM_NOT_ALIGNED) stands between this and a challenge the
    // envelope sender answers himself, releasing mail that shows "From: ceo@bank.test".
    await send('mallory@remote.test', message('encoded-name', 'From: =?utf-8?Q?CEO=2C_mallory=40remote=2Etest=2C?= <ceo@bank.test>\r\n'), REMOTE_CLIENT);
    expect(await decisionOf('encoded-name')).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['SPF_PASS', 'FROM_NOT_ALIGNED']) });
  });

  it('does not count a bounce whose From: is MAILER-DAEMON without a domain as a DMARC fail', async () => {
    // As in many real bounces (corpus bounces/00033): the null sender, and no domain to check.
    await send('', message('bounce-no-domain', 'From: MAILER-DAEMON <>\r\n'));
    expect((await decisionOf('bounce-no-domain')).symbols).not.toContain('DMARC_FAIL');
  });

  it('keeps DMARC failed when DNS trouble hits the signature of another registrant under eu.org', async () => {
    await send('ceo@victim.eu.org', await signedBy('attacker.eu.org', 'slow', message('eu-temperror', 'From: CEO <ceo@victim.eu.org>\r\n')));
    expect(await decisionOf('eu-temperror')).toMatchObject({ decision: 'quarantine', symbols: expect.arrayContaining(['WHITELIST_FORGED', 'DMARC_FAIL']) });
  });

  it('does not take the signature of another registrant under eu.org for the envelope sender, and challenges nobody', async () => {
    const challenges = t.smtpSink.messages.length;
    await send('someone@victim.eu.org', await signedBy('attacker.eu.org', 'sel', message('eu-pass', 'From: Someone <someone@attacker.eu.org>\r\n')));
    const d = await decisionOf('eu-pass');
    expect(d.symbols).toEqual(expect.arrayContaining(['DKIM_PASS', 'SENDER_UNVERIFIED']));
    expect(d.decision).not.toBe('challenge');
    await sleep(1000);
    expect(t.smtpSink.messages.length).toBe(challenges);
  });

  /** The header block of the last message delivered to the mailbox with this Message-ID. */
  function deliveredHeader(id: string): string {
    const m = t.lmtpSink.messages.filter((x) => x.raw.toString('latin1').includes(`<${id}@forged.test>`)).at(-1)!;
    return m.raw.toString('latin1').split('\r\n\r\n')[0]!;
  }

  it('delivers mail without the Authentication-Results and X-Crgate-Decision fields the sender wrote in our name', async () => {
    await send('friend@strict.test', FORGED_FIELDS + message('forged-fields', 'From: Friend <friend@strict.test>\r\n'), STRICT_MX);
    expect((await decisionOf('forged-fields')).decision).toBe('deliver');
    const header = deliveredHeader('forged-fields');
    expect(header.match(/^X-Crgate-Decision:/gim)).toHaveLength(1);
    expect(header.match(new RegExp(`^Authentication-Results: ${OURS.replaceAll('.', '\\.')};`, 'gim'))).toHaveLength(1);
    expect(header).not.toContain('dkim=pass header.d=strict.test');
    // Another host's results are its own business: kept as they came.
    expect(header).toContain('Authentication-Results: mx.other.test; spf=pass smtp.mailfrom=strict.test');
  });

  it('releases held mail without the fields the sender wrote in our name', async () => {
    await send('newcomer@strict.test', FORGED_FIELDS + message('forged-held', 'From: Newcomer <newcomer@strict.test>\r\n'), STRICT_MX);
    expect((await decisionOf('forged-held')).decision).not.toBe('deliver');
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    const { rows } = await t.db.query(`SELECT r.id FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = '<forged-held@forged.test>'`);
    await applyQuarantineAction(engine.db, alice.id, [rows[0].id], 'release');
    await waitFor(() => t.lmtpSink.messages.some((x) => x.raw.toString('latin1').includes('<forged-held@forged.test>')), 'the released copy');
    const header = deliveredHeader('forged-held');
    expect(header.match(/^X-Crgate-Decision:/gim)).toHaveLength(1);
    expect(header).not.toContain('dkim=pass header.d=strict.test');
    expect(header).toContain('Authentication-Results: mx.other.test; spf=pass smtp.mailfrom=strict.test');
  });

  it('finds the forged fields behind a header block padded past 1 MiB', async () => {
    const padding = Array.from({ length: 500 }, (_, i) => `X-Padding-${i}: ${'p'.repeat(2200)}\r\n`).join('');
    await send('friend@strict.test', padding + FORGED_FIELDS + message('padded', 'From: Friend <friend@strict.test>\r\n'), STRICT_MX);
    // Past the 1 MiB crgate parses, the Message-ID is not recorded: find the copy in the mailbox.
    const header = deliveredHeader('padded');
    expect(header.length).toBeGreaterThan(1024 * 1024);
    expect(header.match(/^X-Crgate-Decision:/gim)).toHaveLength(1);
    expect(header).not.toContain('dkim=pass header.d=strict.test');
  });
});
