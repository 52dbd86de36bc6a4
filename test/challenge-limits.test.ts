/**
 * What is held without a challenge, and the limits on challenges: per sender per hour, in all per
 * hour, and per (sender, recipient) per period. Engine in-process; relay is a real SMTP sink.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { addListEntry, addUser, expireOld, findUserByAddress, setSenderOptOut } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor, type Sink } from './helpers/sinks.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');
/**
 * The fixture as `sender` writing to `user` in its headers too: mail not addressed to the user, or whose
 * From: is not aligned with the envelope sender, is never challenged.
 */
let sent = 0;
const mail = (sender: string, user: string) =>
  FIXTURE.replace('To: Alice <alice@example.test>', `To: ${user}`)
    .replace('From: Bob Remote <bob@remote.test>', `From: ${sender}`)
    .replace('<lunch-1@remote.test>', `<limits-${++sent}@remote.test>`);

describe('challenge limits and quiet holds', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((u) => `${u}@example.test`);

  async function copies(sender: string) {
    const { rows } = await t.db.query(
      `SELECT r.rcpt_to, r.decision, r.status, r.reasons, c.status AS challenge
         FROM message_recipients r LEFT JOIN challenges c ON c.id = r.challenge_id
        WHERE r.sender = $1 ORDER BY r.id`,
      [sender],
    );
    return rows as Array<{ rcpt_to: string; decision: string; status: string; reasons: Array<{ symbol: string }>; challenge: string | null }>;
  }

  async function settle(): Promise<void> {
    await waitFor(async () => (await t.db.query(`SELECT count(*)::int AS n FROM challenges WHERE status = 'queued'`)).rows[0].n === 0, 'no queued challenge');
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({
      CRGATE_CHALLENGE_PER_SENDER_PER_HOUR: '2',
      CRGATE_CHALLENGE_GLOBAL_PER_HOUR: '4',
      // These tests are about limits; the evidence rule (SPF/DKIM before a challenge) has its own tests.
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
    });
    ({ lmtpSink, smtpSink } = t);
    engine = await startInProcess(t.env);
    for (const u of users) await addUser(engine.db, u);
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('stops challenges to one sender past the hourly limit and says so on the held copies', async () => {
    for (const u of users.slice(0, 3)) expect((await lmtpSend(t.lmtpPort, 'many@spammy.test', [u], mail('many@spammy.test', u)))[0]!.code).toBe(250);
    await settle();
    const held = await copies('many@spammy.test');
    expect(held.filter((c) => c.challenge === 'sent')).toHaveLength(2);
    const stopped = held.filter((c) => c.challenge === 'suppressed');
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!.decision).toBe('quarantine');
    expect(stopped[0]!.status).toBe('held');
    expect(stopped[0]!.reasons.map((r) => r.symbol)).toContain('RATE_LIMIT_SENDER');
    expect(smtpSink.messages.filter((m) => m.rcptTo[0] === 'many@spammy.test')).toHaveLength(2);
  });

  it('stops challenges past the global hourly cap', async () => {
    // Two were sent above; the cap is four.
    for (const [i, sender] of ['s1@a.test', 's2@b.test', 's3@c.test'].entries()) {
      expect((await lmtpSend(t.lmtpPort, sender, [users[i]!], mail(sender, users[i]!)))[0]!.code).toBe(250);
    }
    await settle();
    const all = [...(await copies('s1@a.test')), ...(await copies('s2@b.test')), ...(await copies('s3@c.test'))];
    expect(all.filter((c) => c.challenge === 'sent')).toHaveLength(2);
    const stopped = all.filter((c) => c.challenge === 'suppressed');
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!.reasons.map((r) => r.symbol)).toContain('RATE_LIMIT_GLOBAL');
    expect(smtpSink.messages).toHaveLength(4);
  });

  it('holds without a new challenge when the pair was challenged within the period', async () => {
    // s1 was challenged for u1 above; that challenge ends (expired), and s1 writes again.
    await t.db.query(`UPDATE challenges SET status = 'expired' WHERE sender = 's1@a.test'`);
    expect((await lmtpSend(t.lmtpPort, 's1@a.test', [users[0]!], mail('s1@a.test', users[0]!)))[0]!.code).toBe(250);
    const latest = (await copies('s1@a.test')).at(-1)!;
    expect(latest.decision).toBe('quarantine');
    expect(latest.reasons.map((r) => r.symbol)).toEqual(['UNKNOWN_SENDER', 'RATE_LIMIT_PAIR']);
  });

  it('does not challenge the null sender', async () => {
    expect((await lmtpSend(t.lmtpPort, '', [users[5]!], mail('', users[5]!)))[0]!.code).toBe(250);
    const held = await copies('');
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ decision: 'quarantine', status: 'held', challenge: null });
  });

  it('does not challenge a sender who asked not to be', async () => {
    await setSenderOptOut(engine.db, 'quiet@else.test', true);
    expect((await lmtpSend(t.lmtpPort, 'quiet@else.test', [users[5]!], mail('quiet@else.test', users[5]!)))[0]!.code).toBe(250);
    const held = await copies('quiet@else.test');
    expect(held[0]).toMatchObject({ decision: 'quarantine', status: 'held', challenge: null });
    expect(held[0]!.reasons.map((r) => r.symbol)).toEqual(['SENDER_OPTED_OUT', 'UNKNOWN_SENDER']);
  });

  it('discards a blacklisted sender: accepted, kept for the recipient, never delivered or challenged', async () => {
    const user = await findUserByAddress(engine.db, users[5]!);
    await addListEntry(engine.db, { userId: user!.id, list: 'black', kind: 'domain', value: 'junk.test', source: 'manual' });
    const sent = smtpSink.messages.length;
    expect((await lmtpSend(t.lmtpPort, 'x@mail.junk.test', [users[5]!], mail('x@mail.junk.test', users[5]!)))[0]!.code).toBe(250);
    const held = await copies('x@mail.junk.test');
    expect(held[0]).toMatchObject({ decision: 'discard', status: 'discarded', challenge: null });
    expect(held[0]!.reasons.map((r) => r.symbol)).toEqual(['BLACKLIST_DOMAIN']);
    await sleep(500);
    expect(smtpSink.messages).toHaveLength(sent);
    expect(lmtpSink.messages).toHaveLength(0);
  });

  it('expires held and discarded copies after their retention and drops their bodies', async () => {
    const later = new Date(Date.now() + 31 * 86_400_000);
    const result = await expireOld(engine.db, later);
    expect(result.expiredCopies).toBeGreaterThan(0);
    const { rows } = await t.db.query(
      `SELECT count(*) FILTER (WHERE status IN ('held', 'discarded'))::int AS live,
              (SELECT count(*)::int FROM messages WHERE raw IS NOT NULL) AS bodies,
              (SELECT count(*)::int FROM challenges WHERE status IN ('queued', 'sent')) AS open
         FROM message_recipients`,
    );
    expect(rows[0]).toEqual({ live: 0, bodies: 0, open: 0 });
  });

  it('keeps discarded copies for the shorter period only', async () => {
    expect((await lmtpSend(t.lmtpPort, 'y@junk.test', [users[5]!], mail('y@junk.test', users[5]!)))[0]!.code).toBe(250);
    expect((await lmtpSend(t.lmtpPort, '', [users[5]!], mail('', users[5]!)))[0]!.code).toBe(250);
    await expireOld(engine.db, new Date(Date.now() + 8 * 86_400_000));
    const { rows } = await t.db.query(
      `SELECT decision, status FROM message_recipients WHERE sender IN ('y@junk.test', '') AND created_at > now() - interval '1 minute' ORDER BY id`,
    );
    expect(rows.slice(-2)).toEqual([
      { decision: 'discard', status: 'expired' },
      { decision: 'quarantine', status: 'held' },
    ]);
  });
});
