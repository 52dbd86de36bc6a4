/**
 * The digest: each recipient with new quarantined mail gets, at their chosen frequency, a short
 * summary — counts, and for each message its sender, subject and a link that opens it. Written
 * straight to the recipient's mailbox through CRGATE_DELIVER_TO (sent through the relay it would come
 * back into crgate as automatic mail and be held). Nothing is sent when there is nothing new.
 */
import { randomBytes } from 'node:crypto';
import { deriveWebSecret, digestToken, sanitizeSubject, type Config, type Logger } from '@crgate/core';
import { closeQuietPeriods, digestsDue, digestStillDue, markDigestSent, type Db, type DigestDue, type SendLocks } from '@crgate/store';
import { composeMail, decisionHeader, deliver } from '@crgate/ingest';

/** A digest link stays valid as long as held mail is kept. */
function linkExpiry(config: Config, now: Date): Date {
  return new Date(now.getTime() + config.retention.heldDays * 86_400_000);
}

export function digestText(config: Config, d: DigestDue, webSecret: string, now: Date): string {
  const expires = linkExpiry(config, now);
  const lines = [
    `${d.total} new message(s) for ${d.address} were held or discarded since ${d.since.toUTCString()}.`,
    'Open one to see it and release it if it is yours; the rest are deleted in time.',
    '',
  ];
  for (const item of d.items) {
    lines.push(`From:    ${item.sender || '(no sender)'}`);
    lines.push(`Subject: ${sanitizeSubject(item.subject ?? '', 70) || '(none)'}`);
    lines.push(`         ${config.publicUrl}/d/${digestToken(webSecret, item.recipientId, d.userId, expires)}`);
    lines.push('');
  }
  if (d.total > d.items.length) lines.push(`… and ${d.total - d.items.length} more: ${config.publicUrl}/q`, '');
  lines.push(`All held mail: ${config.publicUrl}/q`);
  return `${lines.join('\n')}\n`;
}


/**
 * Sends every digest due. With `locks` (the worker's), each user's digest is sent under a lock and
 * only if no other worker sent it meanwhile: a run that outlived its job lock, taken over by a second
 * worker, mailed every due user twice.
 */
export async function sendDigests(config: Config, db: Db, secret: string, now: Date, logger: Logger, locks?: SendLocks): Promise<number> {
  let sent = 0;
  // A period with nothing new ends on time too, so the next digest keeps the hour.
  await closeQuietPeriods(db, now);
  for (const d of await digestsDue(db, now)) {
    const send = async () => (await digestStillDue(db, d.userId, d.since)) && sendDigest(config, db, secret, d, now, logger);
    const done = locks ? (await locks.withLock(`digest:${d.userId}`, send))?.value : await send();
    if (done) sent++;
  }
  return sent;
}

async function sendDigest(config: Config, db: Db, secret: string, d: DigestDue, now: Date, logger: Logger): Promise<boolean> {
  const webSecret = deriveWebSecret(secret);
  const host = new URL(config.publicUrl).hostname.toLowerCase();
  const raw = await composeMail({
    from: config.challenge.from,
    to: d.address,
    subject: `Held mail: ${d.total} new message(s)`,
    messageId: `<digest-${randomBytes(12).toString('hex')}@${host}>`,
    date: now,
    headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
    text: digestText(config, d, webSecret, now),
  });
  const rcpt = d.address;
  const [result] = await deliver(config.deliverTo, { mailFrom: '', recipients: [rcpt], message: Buffer.concat([Buffer.from(decisionHeader('digest', [])), raw]) }, config.lmtp.hostname);
  if (!result!.ok) {
    logger.warn({ event: 'digest.failed', userId: d.userId, code: result!.code, reply: result!.message }, 'digest not delivered; retried next hour');
    return false;
  }
  await markDigestSent(db, d.userId, d.until);
  logger.info({ event: 'digest.sent', userId: d.userId, messages: d.total }, 'digest sent');
  return true;
}
