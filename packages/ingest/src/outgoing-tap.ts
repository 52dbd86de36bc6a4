/**
 * The outgoing-mail tap. The MTA copies each message a user submits (Postfix `sender_bcc_maps` on the
 * submission service) to the tap address; crgate never delivers the copy, it whitelists the copy's
 * recipients for the sender and logs the Message-ID, so replies and bounces about it are recognised.
 *
 * The tap must not become a way in, so a copy counts only when all of these hold: the peer that handed
 * it over is one of `tap.trustedClients` (the MTA itself, not the XFORWARD address), the envelope sender
 * is one of our users, and the newest Received header — the one our MTA wrote — says the client
 * authenticated (RFC 3848 `ESMTPSA`/`ESMTPA`, or Postfix's "Authenticated sender:").
 */
import { normalizeAddress, type Logger } from '@crgate/core';
import { findUserByAddress, recordSentMessage, type Db, type SentMessage, type User } from '@crgate/store';
import { createHash } from 'node:crypto';
import { tokenize } from '@crgate/classifier';
import { allAddresses, headerDate, parseHeaders, type ParsedHeaders } from './parse-message.js';
import type { ContentChecker } from './content-check.js';

export function isTrustedPeer(peer: string | undefined, trusted: readonly string[]): boolean {
  if (!peer) return false;
  const p = peer.replace(/^::ffff:/i, '').toLowerCase();
  return trusted.some((t) => t.replace(/^::ffff:/i, '').toLowerCase() === p);
}

/**
 * Whether the newest Received header (ParsedHeaders.newestReceived, folding kept) records an
 * authenticated submission. Only clauses that begin a continuation line count: Postfix writes
 * `(Authenticated sender: …)` and `by <host> (Postfix) with ESMTPSA id …` each on a line of its own
 * (Exim and Sendmail put `by … with` on its own line too), while the text the client chooses, the HELO
 * name in the first line and the recipient in `for <…>`, shares its line with other clauses and cannot
 * hold a line break. Read anywhere in the field, `EHLO with?ESMTPSA` or a recipient
 * `"x (Authenticated sender: y)"@…` passed for a login. Only blanks and tabs separate words here: `\s`
 * would take a no-break space a client put in its HELO.
 */
export function submittedWithAuthentication(newestReceived: string | undefined): boolean {
  if (!newestReceived) return false;
  return newestReceived
    .split('\n')
    .slice(1)
    .some(
      (line) =>
        /^[ \t]+(?:by[ \t]+[^ \t()]+(?:[ \t]+\([^()]*\))?[ \t]+)?with[ \t]+(?:UTF8)?(?:E?SMTPS?A|LMTPS?A)(?:[ \t;]|$)/i.test(line) ||
        /^[ \t]+\(Authenticated sender:[ \t]/i.test(line),
    );
}

/**
 * The newest Resent- block of a message the user redirected (resent, "bounced" in mutt), as the number
 * of fields of each name in it; undefined for a message that was not resent. A client that redirects
 * a message puts its Resent- fields on top of the message as it was received (RFC 5322 3.6.6), so the
 * block is the run of Resent- fields that comes first. Fields further down, and the To, Cc and
 * Message-ID, were written by the original author, who may be a spammer (and may have written
 * Resent- fields of his own).
 */
export function newestResentBlock(fieldNames: readonly string[]): Map<string, number> | undefined {
  const start = fieldNames.findIndex((n) => n.startsWith('resent-'));
  if (start < 0) return undefined;
  const block = new Map<string, number>();
  for (let i = start; i < fieldNames.length && fieldNames[i]!.startsWith('resent-'); i++) {
    block.set(fieldNames[i]!, (block.get(fieldNames[i]!) ?? 0) + 1);
  }
  return block;
}

/**
 * The sent-mail record of a message a user sent, read from its headers: its Message-ID, the people it
 * went to (without the user's own addresses), subject and date. Undefined without a Message-ID, which
 * is what the log is keyed by. A redirected message is recorded by its newest Resent- block alone:
 * Resent-Message-ID, Resent-To, Resent-Cc and Resent-Bcc. Shared by the tap and `crgate import-sent`.
 */
export function sentMessageOf(
  { headers, addressFields, fieldNames }: Pick<ParsedHeaders, 'headers' | 'addressFields' | 'fieldNames'>,
  user: User,
  source: SentMessage['source'],
): SentMessage | undefined {
  const resent = newestResentBlock(fieldNames);
  // No Resent- field comes before the newest block, so its fields are the first of their names.
  const first = (name: string): string[] => (resent ? (addressFields.get(name) ?? []).slice(0, resent.get(name) ?? 0) : (addressFields.get(name) ?? []));
  const idField = resent ? (resent.has('resent-message-id') ? headers.get('resent-message-id')?.[0] : undefined) : headers.get('message-id')?.[0];
  // The log is indexed by Message-ID, and an index entry holds at most about 2.7 KB: a longer id
  // (no real one is) would fail every retry of the copy. 500 characters are 2 KB even in UTF-8.
  const messageId = idField?.match(/<[^<>\s]{1,500}>/)?.[0];
  if (!messageId) return undefined;
  const own = new Set([user.address, ...user.aliases]);
  // The fields as written, not decoded: an encoded display name ("Friend, spam@evil.test,") copied into
  // a reply would otherwise be read as one more recipient, and whitelisted.
  const fields = resent ? ['resent-to', 'resent-cc', 'resent-bcc'] : ['to', 'cc', 'bcc'];
  const recipients = allAddresses(fields.flatMap(first)).filter((r) => !own.has(r));
  return {
    userId: user.id,
    messageId,
    recipients,
    subject: headers.get('subject')?.[0],
    sentAt: headerDate(headers.get(resent ? 'resent-date' : 'date')?.[0]),
    source,
  };
}

/**
 * Whether the message names one of the user's addresses as its author: From:, or for a redirected
 * message the Resent-From of its newest Resent- block. What `crgate import-sent` reads in place of
 * the tap's checks (an authenticated submission by the envelope sender), so that a folder of
 * received mail, given by mistake, whitelists nobody its senders name.
 */
export function writtenBy({ addressFields, fieldNames }: Pick<ParsedHeaders, 'addressFields' | 'fieldNames'>, user: User): boolean {
  const resent = newestResentBlock(fieldNames);
  const authors = resent ? (addressFields.get('resent-from') ?? []).slice(0, resent.get('resent-from') ?? 0) : (addressFields.get('from') ?? []);
  const own = new Set([user.address, ...user.aliases]);
  return allAddresses(authors).some((a) => own.has(a));
}

export interface TapOutcome {
  recorded: boolean;
  /** Why a copy was ignored, or what was recorded. */
  detail: string;
  whitelisted: string[];
}

/**
 * `raw` may be only the head of a large message (the ingest's spool keeps the rest on disk): headers
 * and the tokenizer read no further. `sha256` is then the whole message's, its key in the training log.
 */
export async function handleTapCopy(
  db: Db,
  raw: Buffer,
  mailFrom: string,
  log: Logger,
  content?: ContentChecker,
  sha256 = createHash('sha256').update(raw).digest('hex'),
): Promise<TapOutcome> {
  const parsed = parseHeaders(raw);
  const { headers } = parsed;
  const ignore = (detail: string): TapOutcome => {
    log.warn({ event: 'tap.ignored', mailFrom, reason: detail }, `outgoing copy ignored: ${detail}`);
    return { recorded: false, detail, whitelisted: [] };
  };
  if (!mailFrom) return ignore('null envelope sender');
  const user = await findUserByAddress(db, mailFrom);
  if (!user) return ignore(`${normalizeAddress(mailFrom)} is not a user`);
  if (!submittedWithAuthentication(parsed.newestReceived)) return ignore('the newest Received header shows no authenticated submission');
  const sent = sentMessageOf(parsed, user, 'tap');
  if (!sent) return ignore(newestResentBlock(parsed.fieldNames) ? 'no Resent-Message-ID' : 'no Message-ID');
  const { messageId, recipients } = sent;
  const whitelisted = await recordSentMessage(db, sent);
  // A user's own words are the best ham there is; a message the user redirected holds somebody else's.
  if (content?.enabled && !newestResentBlock(parsed.fieldNames)) {
    const tokens = await tokenize(raw);
    content.learnLater(user.id, sha256, tokens, 'ham', 1, 'outgoing mail');
  }
  log.info({ event: 'tap.recorded', user: user.address, messageId, recipients: recipients.length, whitelisted: whitelisted.length }, 'outgoing mail recorded');
  return { recorded: true, detail: `recorded, ${recipients.length} recipient(s)`, whitelisted };
}
