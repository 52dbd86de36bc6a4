/**
 * The worker's jobs when they run late, twice, or fail: a challenge whose link has already expired is
 * not sent (its mail stays in the quarantine with the reason); one job run by two workers at once (a
 * worker that lost its lock while sending) sends one challenge, or delivers one released copy, not two;
 * a release refused downstream leaves the copy held, in sight, to be released again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import { addUser, applyQuarantineAction, findChallengeByToken, findUserByAddress, listQuarantine, SendLocks } from '@crgate/store';
import { deliverReleased, sendChallenge, trainFromCopy, type ChallengeJobDeps } from '@crgate/worker';
import { createMailTestEnvironment, freePort, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { challengeJobDeps, queuedChallenge } from './helpers/worker-deps.js';
import { waitFor } from './helpers/sinks.js';

describe('worker jobs', () => {
  let t: MailTestEnvironment;
  let ingest: Awaited<ReturnType<typeof startInProcess>>;
  let deps: ChallengeJobDeps;
  /** Another worker process's locks: the second worker of a job taken over. */
  let otherLocks: SendLocks;

  const challenged = (sender: string) => queuedChallenge(t, sender);

  beforeAll(async () => {
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
    ingest = await startInProcess(t.env, ['ingest']);
    await addUser(ingest.db, 'alice@example.test');
    deps = await challengeJobDeps(ingest);
    otherLocks = new SendLocks(ingest.config.databaseUrl);
  });

  afterAll(async () => {
    await deps?.locks.close();
    await otherLocks?.close();
    deps?.redis.disconnect();
    await ingest?.stop();
    await t?.cleanup();
  });

  it('does not send a challenge whose link expired before the job ran, and says so on the held mail', async () => {
    const id = await challenged('late@remote.test');
    const later = new Date(Date.now() + (ingest.config.challenge.tokenTtlDays + 1) * 86_400_000);
    expect(await sendChallenge(id, { ...deps, now: () => later })).toEqual({ result: 'suppressed', reason: 'CHALLENGE_EXPIRED_UNSENT' });
    expect(t.smtpSink.messages.filter((m) => m.rcptTo.includes('late@remote.test'))).toEqual([]);
    const { rows } = await t.db.query(`SELECT decision, status, reasons FROM message_recipients WHERE sender = 'late@remote.test'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ decision: 'quarantine', status: 'held' });
    expect(rows[0].reasons.map((r: { symbol: string }) => r.symbol)).toContain('CHALLENGE_EXPIRED_UNSENT');
  });

  it('sends one challenge when two workers run its job at the same moment', async () => {
    const id = await challenged('twice@remote.test');
    const results = await Promise.allSettled([sendChallenge(id, deps), sendChallenge(id, { ...deps, locks: otherLocks })]);
    const sentTo = t.smtpSink.messages.filter((m) => m.rcptTo.includes('twice@remote.test'));
    expect(sentTo).toHaveLength(1);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value.result === 'sent')).toHaveLength(1);
    // The other one either saw it sent or found it claimed (and BullMQ would run it again later, to find it sent).
    const other = results.find((r) => !(r.status === 'fulfilled' && r.value.result === 'sent'))!;
    if (other.status === 'rejected') expect(String(other.reason)).toContain('another worker is sending this challenge');
    else expect(other.value.result).toBe('skipped');
    expect(await sendChallenge(id, deps)).toEqual({ result: 'skipped' });
    expect((await t.db.query(`SELECT status FROM challenges WHERE id = $1`, [id])).rows).toEqual([{ status: 'sent' }]);
  });

  it('sends a link the site finds when the challenge was created under another secret (CRGATE_SECRET changed, or set differently per role)', async () => {
    const id = await challenged('rekeyed@remote.test');
    expect(await sendChallenge(id, { ...deps, secret: 'a-different-secret-of-at-least-thirty-two-characters' })).toEqual({ result: 'sent' });
    const mail = t.smtpSink.messages.find((m) => m.rcptTo.includes('rekeyed@remote.test'))!;
    const token = /\/c\/([A-Za-z0-9_-]+)/.exec(mail.raw.toString('utf8'))![1]!;
    expect((await findChallengeByToken(ingest.db, token))?.id).toBe(id);
  });

  it('counts a challenge sent after a relay outage from when it went out: the backlog and new challenges stay within the hourly limit', async () => {
    // Two challenges whose first attempts found the relay away, sent when it came back 59 minutes
    // later; a third two minutes after that would make three in three minutes with a limit of 2.
    const sender = 'backlog@remote.test';
    const users = ['backlog-1@example.test', 'backlog-2@example.test', 'backlog-3@example.test'];
    for (const u of users) await addUser(ingest.db, u);
    const challengeTo = async (user: string): Promise<string> => {
      const raw = `From: ${sender}\r\nTo: ${user}\r\nSubject: backlog\r\nMessage-ID: <${user}>\r\n\r\nHi.\r\n`;
      expect((await lmtpSend(t.lmtpPort, sender, [user], raw))[0]!.code).toBe(250);
      const { rows } = await t.db.query<{ id: string }>(`SELECT c.id FROM challenges c JOIN users u ON u.id = c.user_id WHERE c.sender = $1 AND u.address = $2 AND c.status = 'queued'`, [sender, user]);
      expect(rows).toHaveLength(1);
      return rows[0]!.id;
    };
    const config = { ...deps.config, challenge: { ...deps.config.challenge, perSenderPerHour: 2 } };
    const relayDown = { ...config, smtpRelay: { host: '127.0.0.1', port: await freePort() } };
    const t0 = Date.now();
    const at = (minutes: number) => () => new Date(t0 + minutes * 60_000);
    const [first, second] = [await challengeTo(users[0]!), await challengeTo(users[1]!)];
    for (const id of [first, second]) await expect(sendChallenge(id, { ...deps, config: relayDown, now: at(0) })).rejects.toThrow(/relay unavailable/);
    for (const id of [first, second]) expect(await sendChallenge(id, { ...deps, config, now: at(59) })).toEqual({ result: 'sent' });
    const third = await challengeTo(users[2]!);
    expect(await sendChallenge(third, { ...deps, config, now: at(61) })).toEqual({ result: 'suppressed', reason: 'RATE_LIMIT_SENDER' });
    expect(t.smtpSink.messages.filter((m) => m.rcptTo.includes(sender))).toHaveLength(2);
    expect((await t.db.query(`SELECT status FROM challenges WHERE id = $1`, [third])).rows).toEqual([{ status: 'suppressed' }]);
  });

  /** A held copy from `sender`, released by alice on the site (no worker runs: its job waits). */
  async function released(sender: string): Promise<number> {
    await challenged(sender);
    const alice = (await findUserByAddress(ingest.db, 'alice@example.test'))!.id;
    const { rows } = await t.db.query<{ id: number }>(`SELECT id FROM message_recipients WHERE sender = $1`, [sender]);
    await applyQuarantineAction(ingest.db, alice, [rows[0]!.id], 'release');
    expect((await t.db.query(`SELECT status FROM message_recipients WHERE id = $1`, [rows[0]!.id])).rows).toEqual([{ status: 'releasing' }]);
    return rows[0]!.id;
  }

  it('delivers a released copy once when two workers run its job at the same moment', async () => {
    const id = await released('release-twice@remote.test');
    const before = t.lmtpSink.messages.length;
    const results = await Promise.allSettled([deliverReleased(id, deps), deliverReleased(id, { ...deps, locks: otherLocks })]);
    expect(t.lmtpSink.messages.length - before).toBe(1);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value === 'delivered')).toHaveLength(1);
    expect((await t.db.query(`SELECT status FROM message_recipients WHERE id = $1`, [id])).rows).toEqual([{ status: 'released' }]);
  });

  it('holds a released copy again, with the reason, when downstream refuses it; released again, it arrives', async () => {
    const id = await released('refused@remote.test');
    t.lmtpSink.reply = () => Object.assign(new Error('Mailbox over quota'), { responseCode: 552 });
    try {
      await expect(deliverReleased(id, deps)).rejects.toThrow(/downstream refused: 552/);
    } finally {
      t.lmtpSink.reply = () => true;
    }
    const alice = (await findUserByAddress(ingest.db, 'alice@example.test'))!.id;
    const page = await listQuarantine(ingest.db, { userId: alice });
    const item = page.items.find((i) => i.id === id);
    expect(item).toMatchObject({ status: 'held' });
    expect(item!.reasons).toContainEqual(expect.objectContaining({ symbol: 'RELEASE_FAILED', detail: expect.stringContaining('552') }));
    const before = t.lmtpSink.messages.length;
    await applyQuarantineAction(ingest.db, alice, [id], 'release');
    expect(await deliverReleased(id, deps)).toBe('delivered');
    expect(t.lmtpSink.messages.length - before).toBe(1);
  });

  it('does not let a "mark as spam" training job overtaken by a release have the last word', async () => {
    const id = await released('changed-mind@remote.test');
    expect(await trainFromCopy(ingest.db, { recipientId: id, label: 'spam', weight: 1 }, silentLogger)).toBe('skipped');
    expect(await trainFromCopy(ingest.db, { recipientId: id, label: 'ham', weight: 1 }, silentLogger)).toBe('trained');
    const { rows } = await t.db.query(`SELECT label FROM classifier_trained WHERE message_key = (SELECT m.sha256 FROM messages m JOIN message_recipients r ON r.message_id = m.id WHERE r.id = $1)`, [id]);
    expect(rows).toEqual([{ label: 'ham' }]);
  });

  it('does not let the weak training of an expired challenge replace the recipient\'s "mark as spam"', async () => {
    await challenged('marked@remote.test');
    const alice = (await findUserByAddress(ingest.db, 'alice@example.test'))!.id;
    const { rows } = await t.db.query<{ id: number }>(`SELECT id FROM message_recipients WHERE sender = 'marked@remote.test'`);
    const id = rows[0]!.id;
    await applyQuarantineAction(ingest.db, alice, [id], 'spam');
    expect(await trainFromCopy(ingest.db, { recipientId: id, label: 'spam', weight: 1 }, silentLogger)).toBe('trained');
    // The job the ingest queued when it closed the challenge as expired, run late.
    expect(await trainFromCopy(ingest.db, { recipientId: id, label: 'spam', weight: 0.25, whileHeld: true }, silentLogger)).toBe('skipped');
    const trained = await t.db.query(
      `SELECT label, weight FROM classifier_trained WHERE message_key = (SELECT m.sha256 FROM messages m JOIN message_recipients r ON r.message_id = m.id WHERE r.id = $1)`,
      [id],
    );
    expect(trained.rows).toEqual([{ label: 'spam', weight: 1 }]);
  });

  it('delivers a second release through the queue after downstream refused the first', async () => {
    // The refused release leaves its BullMQ job failed under the copy's job id; the second release
    // queues the same id, which BullMQ would ignore.
    const worker = await startInProcess(t.env, ['worker']);
    try {
      const alice = (await findUserByAddress(ingest.db, 'alice@example.test'))!.id;
      // The worker runs, so the challenge may be sent before anyone looks: only the held copy matters here.
      const sender = 'second-release@remote.test';
      const raw = `From: ${sender}\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <second-release@remote.test>\r\n\r\nHi.\r\n`;
      expect((await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], raw))[0]!.code).toBe(250);
      const { rows } = await t.db.query<{ id: number }>(`SELECT id FROM message_recipients WHERE sender = $1 AND status = 'held'`, [sender]);
      expect(rows).toHaveLength(1);
      const id = rows[0]!.id;
      const status = async () => (await t.db.query(`SELECT status FROM message_recipients WHERE id = $1`, [id])).rows[0].status;
      t.lmtpSink.reply = () => Object.assign(new Error('Mailbox over quota'), { responseCode: 552 });
      try {
        await applyQuarantineAction(ingest.db, alice, [id], 'release');
        await waitFor(async () => (await status()) === 'held', 'the refused release held again');
      } finally {
        t.lmtpSink.reply = () => true;
      }
      // Counted by its Message-ID: this worker may also run a release an earlier test left queued.
      const delivered = () => t.lmtpSink.messages.filter((m) => m.raw.includes('<second-release@remote.test>')).length;
      const before = delivered();
      await applyQuarantineAction(ingest.db, alice, [id], 'release');
      await waitFor(async () => (await status()) === 'released', 'the second release delivered');
      expect(delivered() - before).toBe(1);
    } finally {
      await worker.stop();
    }
  });
});
