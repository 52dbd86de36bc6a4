/**
 * `crgate import-sent`: bootstraps a user's sent-mail log and whitelist from a Sent folder (Maildir,
 * mbox or .eml files), as if every message had passed the outgoing tap. Idempotent.
 */
import type { User } from '@crgate/store';
import { recordSentMessage, type Db } from '@crgate/store';
import { parseHeaders, readMailSources, sentMessageOf, writtenBy } from '@crgate/ingest';
import { reportSkipped } from './cli-helpers.js';

export interface ImportSentResult {
  messages: number;
  skipped: number;
  /** Messages whose From: (Resent-From: when redirected) is none of the user's addresses. */
  notFromUser: number;
  whitelisted: number;
}

export async function importSent(db: Db, user: User, paths: string[], progress?: (r: ImportSentResult) => void): Promise<ImportSentResult> {
  const result: ImportSentResult = { messages: 0, skipped: 0, notFromUser: 0, whitelisted: 0 };
  for await (const { raw } of readMailSources(paths, reportSkipped)) {
    const parsed = parseHeaders(raw);
    if (!writtenBy(parsed, user)) {
      result.notFromUser++;
      continue;
    }
    const sent = sentMessageOf(parsed, user, 'import');
    if (!sent) {
      result.skipped++;
      continue;
    }
    const added = await recordSentMessage(db, sent);
    result.messages++;
    result.whitelisted += added.length;
    progress?.(result);
  }
  return result;
}
