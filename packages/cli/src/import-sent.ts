/**
 * `crgate import-sent`: bootstraps a user's sent-mail log and whitelist from a Sent folder (Maildir,
 * mbox or .eml files), as if every message had passed the outgoing tap. Idempotent.
 */
import type { User } from '@crgate/store';
import { recordSentMessage, type Db } from '@crgate/store';
import { allAddresses, parseHeaders, readMailSources } from '@crgate/ingest';

export interface ImportSentResult {
  messages: number;
  skipped: number;
  whitelisted: number;
}

export async function importSent(db: Db, user: User, paths: string[], progress?: (r: ImportSentResult) => void): Promise<ImportSentResult> {
  const result: ImportSentResult = { messages: 0, skipped: 0, whitelisted: 0 };
  const own = new Set([user.address, ...user.aliases]);
  for await (const { raw } of readMailSources(paths)) {
    const { headers } = parseHeaders(raw);
    const messageId = headers.get('message-id')?.[0]?.match(/<[^<>\s]+>/)?.[0];
    if (!messageId) {
      result.skipped++;
      continue;
    }
    const recipients = allAddresses(['to', 'cc', 'bcc'].flatMap((h) => headers.get(h) ?? [])).filter((r) => !own.has(r));
    const date = headers.get('date')?.[0];
    const sentAt = date ? new Date(date) : undefined;
    const added = await recordSentMessage(db, {
      userId: user.id,
      messageId,
      recipients,
      subject: headers.get('subject')?.[0],
      sentAt: sentAt && !Number.isNaN(sentAt.getTime()) ? sentAt : undefined,
      source: 'import',
    });
    result.messages++;
    result.whitelisted += added.length;
    progress?.(result);
  }
  return result;
}
