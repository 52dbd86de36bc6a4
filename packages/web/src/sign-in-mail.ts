/**
 * The mail carrying a sign-in link. By default it is written straight to the user's mailbox through
 * CRGATE_DELIVER_TO, like released mail: sent through the relay, it would come back to crgate through
 * the MTA and be held as automatic mail — in the very quarantine the user cannot yet open. With
 * `web.signInMail = relay` it goes through CRGATE_SMTP_RELAY instead, from the null sender with DSN
 * NOTIFY=NEVER, as a challenge does.
 */
import { randomBytes } from 'node:crypto';
import type { Config, DeliverTarget } from '@crgate/core';
import { composeMail, deliver } from '@crgate/ingest';


export function signInMailText(address: string, link: string, minutes: number): string {
  return [
    `Somebody, probably you, asked to sign in to the held mail of ${address}.`,
    '',
    'To sign in, open this link and press the button on the page:',
    '',
    link,
    '',
    `The link works once, for ${minutes} minutes. If you did not ask for it, ignore this message:`,
    'nobody can sign in without it.',
    '',
  ].join('\n');
}

export async function sendSignInMail(config: Config, to: string, link: string, now: Date, minutes: number): Promise<void> {
  const host = new URL(config.publicUrl).hostname.toLowerCase();
  const raw = await composeMail({
    from: config.challenge.from,
    to,
    subject: 'Your sign-in link',
    messageId: `<signin-${randomBytes(12).toString('hex')}@${host}>`,
    date: now,
    headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
    text: signInMailText(to, link, minutes),
  });
  const target: DeliverTarget = config.web.signInMail === 'relay' ? { kind: 'smtp', ...config.smtpRelay } : config.deliverTo;
  const [result] = await deliver(
    target,
    { mailFrom: '', recipients: [to], message: raw, ...(target.kind === 'smtp' ? { notify: ['NEVER' as const] } : {}) },
    config.lmtp.hostname,
  );
  if (!result?.ok) throw new Error(`sign-in mail not accepted: ${result?.code} ${result?.message}`);
}
