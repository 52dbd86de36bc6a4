/**
 * One sender, spelled several ways in MAIL FROM: quotes that are not needed, case, a +tag, accents
 * composed or not. Each spelling is the same mailbox, so each must meet the same blacklist entry and
 * the same challenge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addListEntry, addUser, findUserByAddress } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { rawLmtp } from './helpers/lmtp-client.js';

let sent = 0;

function mail(from: string): string {
  return (
    `From: <${from}>\r\nTo: Alice <alice@example.test>\r\nSubject: hello ${++sent}\r\nMessage-ID: <spelling-${sent}-${Date.now()}@remote.test>\r\n` +
    `Date: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhello\r\n`
  );
}

describe('sender spellings', () => {
  let t: MailTestEnvironment;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
    engine = await startInProcess(t.env, ['ingest']);
    await addUser(engine.db, 'alice@example.test');
    const alice = await findUserByAddress(engine.db, 'alice@example.test');
    await addListEntry(engine.db, { userId: alice!.id, list: 'black', kind: 'address', value: 'mallory@remote.test', source: 'manual' });
    // As a person types it: ö is one character (NFC).
    await addListEntry(engine.db, { userId: alice!.id, list: 'black', kind: 'address', value: 'j\u00f6rg@remote.test', source: 'manual' });
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  async function send(from: string): Promise<{ sender: string; decision: string; challengeId: string | null }> {
    const lmtp = await rawLmtp(t.lmtpPort);
    try {
      await lmtp.command('LHLO mta.test');
      expect(await lmtp.command(`MAIL FROM:<${from}>`), from).toEqual([expect.stringMatching(/^250 /)]);
      await lmtp.command('RCPT TO:<alice@example.test>');
      await lmtp.command('DATA');
      expect(await lmtp.data(mail(from), 1), from).toEqual([expect.stringMatching(/^250 /)]);
    } finally {
      lmtp.close();
    }
    const { rows } = await t.db.query(`SELECT sender, decision, challenge_id FROM message_recipients ORDER BY id DESC LIMIT 1`);
    return { sender: rows[0].sender, decision: rows[0].decision, challengeId: rows[0].challenge_id };
  }

  it('blacklists a sender however its local part is quoted', async () => {
    for (const from of ['mallory@remote.test', '"mallory"@remote.test', '"Mallory+x"@remote.test']) {
      expect(await send(from), from).toMatchObject({ sender: 'mallory@remote.test', decision: 'discard' });
    }
  });

  it('blacklists a UTF-8 sender however its accents are composed', async () => {
    // o followed by U+0308 COMBINING DIAERESIS (NFD), as a sending system may write it.
    const from = 'jo\u0308rg@remote.test';
    expect(await send(from)).toMatchObject({ sender: 'j\u00f6rg@remote.test', decision: 'discard' });
  });

  it('sends one challenge per sender within the per-pair limit, however its local part is quoted', async () => {
    const spellings = ['bob@remote.test', '"bob"@remote.test', '"Bob"@Remote.Test', '"bob+news"@remote.test'];
    const results = [];
    for (const from of spellings) results.push(await send(from));
    expect(results.map((r) => r.decision)).toEqual(spellings.map(() => 'challenge'));
    expect(new Set(results.map((r) => r.challengeId)).size).toBe(1);
    const { rows } = await t.db.query(`SELECT sender FROM challenges WHERE sender LIKE '%bob%'`);
    expect(rows).toEqual([{ sender: 'bob@remote.test' }]);
  });
});
