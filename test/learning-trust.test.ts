/**
 * The classifier learns ham only from senders shown real. Ham delivers without a challenge, so a
 * forgery learned as ham would let the forger's next spam through: mail a whitelist lets in without
 * authentication (an SPF softfail) is delivered but not learned, and when the real sender confirms a
 * challenge, a copy held because it failed SPF under their name is neither released nor learned.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addListEntry, addUser, findUserByAddress } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor } from './helpers/sinks.js';

const ALLOWED = { softfail: '198.51.100.40', real: '198.51.100.41' };
const STRANGER = { addr: '192.0.2.99', helo: 'bots.example' };

const mail = (from: string, id: string, words: string) =>
  `From: ${from}\r\nTo: alice@example.test\r\nSubject: ${words}\r\nMessage-ID: <${id}@trust.test>\r\n\r\n${words}, and more ${words}.\r\n`;

describe('learning only from senders shown real', () => {
  let t: MailTestEnvironment;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let alice: number;

  const learned = async () =>
    (
      await t.db.query<{ id: string; label: string }>(
        `SELECT m.message_id_header AS id, c.label FROM classifier_trained c JOIN messages m ON m.sha256 = c.message_key
          WHERE c.scope = $1 ORDER BY 1`,
        [alice],
      )
    ).rows;
  const statusOf = async (id: string) =>
    (await t.db.query(`SELECT r.status FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = $1`, [`<${id}@trust.test>`]))
      .rows[0]?.status;

  beforeAll(async () => {
    t = await createMailTestEnvironment();
    Object.assign(t.dns.records, {
      'softfail.test': { MX: [{ exchange: 'mx.softfail.test', priority: 10 }], TXT: [`v=spf1 ip4:${ALLOWED.softfail} ~all`] },
      'real.test': { MX: [{ exchange: 'mx.real.test', priority: 10 }], TXT: [`v=spf1 ip4:${ALLOWED.real} -all`] },
    });
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
    alice = (await findUserByAddress(engine.db, 'alice@example.test'))!.id;
    await addListEntry(engine.db, { userId: alice, list: 'white', kind: 'address', value: 'bob@softfail.test', source: 'manual' });
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('delivers, but does not learn, mail a whitelist lets in without authentication', async () => {
    const unverified = await pythonLmtpSend(t.lmtpPort, 'bob@softfail.test', ['alice@example.test'], mail('bob@softfail.test', 'softfail', 'replica watches'), {
      xforward: STRANGER,
    });
    expect(unverified.data?.[0]?.[1]).toBe(250);
    expect(await statusOf('softfail')).toBe('delivered');
    const real = await pythonLmtpSend(t.lmtpPort, 'bob@softfail.test', ['alice@example.test'], mail('bob@softfail.test', 'spf-pass', 'garden party'), {
      xforward: { addr: ALLOWED.softfail, helo: 'mx.softfail.test' },
    });
    expect(real.data?.[0]?.[1]).toBe(250);
    await waitFor(async () => (await learned()).length > 0, 'the authenticated message to be learned');
    await sleep(500);
    expect(await learned()).toEqual([{ id: '<spf-pass@trust.test>', label: 'ham' }]);
  });

  it('neither releases nor learns a copy that failed SPF under the name of a sender who then confirms', async () => {
    const forged = await pythonLmtpSend(t.lmtpPort, 'frank@real.test', ['alice@example.test'], mail('frank@real.test', 'forged', 'casino bonus'), {
      xforward: STRANGER,
    });
    expect(forged.data?.[0]?.[1]).toBe(250);
    expect(await statusOf('forged')).toBe('held');
    const genuine = await pythonLmtpSend(t.lmtpPort, 'frank@real.test', ['alice@example.test'], mail('frank@real.test', 'genuine', 'quarterly figures'), {
      xforward: { addr: ALLOWED.real, helo: 'mx.real.test' },
    });
    expect(genuine.data?.[0]?.[1]).toBe(250);
    await waitFor(() => t.smtpSink.messages.some((m) => m.rcptTo.includes('frank@real.test')), 'the challenge to the real sender');
    const challenge = t.smtpSink.messages.find((m) => m.rcptTo.includes('frank@real.test'))!;
    const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(challenge.raw.toString())![0];
    expect((await fetch(link, { method: 'POST' })).status).toBe(200);
    await waitFor(async () => (await statusOf('genuine')) === 'released', 'the genuine copy released');
    await waitFor(async () => (await learned()).some((l) => l.id === '<genuine@trust.test>'), 'the genuine copy learned');
    await sleep(500);
    expect(await statusOf('forged')).toBe('held');
    expect((await learned()).map((l) => l.id)).not.toContain('<forged@trust.test>');
  });
});
