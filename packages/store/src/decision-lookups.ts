/**
 * Everything the decision reads from PostgreSQL about one message, in one round trip: earlier copies of
 * the same bytes (a retry), the recipients' list entries matching the sender, the sender's opt-out and
 * the recipients' sent mail it refers to. The same answers as findRecentCopies, findSenderMatches,
 * isSenderOptedOut and findSentMatches, which stay for the other callers; on the ingest's hot path four
 * round trips were four wake-ups of both processes per message (docs/performance.md).
 */
import { domainAndParents, domainOf, normalizeAddress, type DecisionAction } from '@crgate/core';
import type { Queryable } from './db.js';
import type { EntryAuth, ListKind, ListName, SenderListMatches } from './lists.js';
import type { RecipientStatus } from './messages.js';
import { storableText } from './storable.js';

export interface DecisionLookups {
  /** Copies of these exact bytes accepted for a user within the last day (empty without a sha256). */
  recentCopies: Map<number, { decision: DecisionAction; status: RecipientStatus }>;
  matches: Map<number, SenderListMatches>;
  senderOptedOut: boolean;
  sent: Map<number, { matched: string[]; hasLog: boolean }>;
}

interface LookupRow {
  recent: Array<{ user_id: number; decision: DecisionAction; status: RecipientStatus }> | null;
  lists: Array<{ user_id: number; list: ListName; kind: ListKind; value: string; source: string; auth: EntryAuth | null }> | null;
  opted_out: boolean | null;
  sent: Array<{ user_id: number; matched: string[] | null; has_log: boolean }> | null;
}

export async function lookupDecisionFacts(
  db: Queryable,
  q: { userIds: number[]; sender: string; messageIds: string[]; sha256?: string },
): Promise<DecisionLookups> {
  const out: DecisionLookups = { recentCopies: new Map(), matches: new Map(), senderOptedOut: false, sent: new Map() };
  if (q.userIds.length === 0) return out;
  const address = q.sender ? normalizeAddress(q.sender) : null;
  const domains = address ? domainAndParents(domainOf(address)) : [];
  const { rows } = await db.query<LookupRow>({
    name: 'crgate.decision_lookups',
    text: `SELECT
      (SELECT json_agg(c) FROM (
         SELECT DISTINCT ON (r.user_id) r.user_id, r.decision, r.status
           FROM messages m JOIN message_recipients r ON r.message_id = m.id
          WHERE $4::text IS NOT NULL AND m.sha256 = $4 AND m.received_at > now() - interval '1 day' AND r.user_id = ANY($1::bigint[])
          ORDER BY r.user_id, r.id) c) AS recent,
      (SELECT json_agg(e) FROM (
         SELECT user_id, list, kind, value, source, auth FROM list_entries
          WHERE $2::text IS NOT NULL AND user_id = ANY($1::bigint[])
            AND ((kind = 'address' AND value = $2) OR (kind = 'domain' AND value = ANY($3::text[])))) e) AS lists,
      (SELECT no_challenge FROM sender_preferences WHERE address = $2) AS opted_out,
      (SELECT json_agg(s) FROM (
         SELECT u.id AS user_id,
                (SELECT array_agg(s.message_id_header) FROM sent_messages s
                  WHERE s.user_id = u.id AND s.message_id_header = ANY($5::text[])) AS matched,
                EXISTS (SELECT 1 FROM sent_messages s WHERE s.user_id = u.id) AS has_log
           FROM users u WHERE u.id = ANY($1::bigint[])) s) AS sent`,
    values: [q.userIds, address, domains, q.sha256 ?? null, q.messageIds.map(storableText)],
  });
  const row = rows[0]!;
  for (const r of row.recent ?? []) out.recentCopies.set(r.user_id, { decision: r.decision, status: r.status });
  // An address match is preferred to a domain match, as in findSenderMatches.
  for (const e of row.lists ?? []) {
    const matches = out.matches.get(e.user_id) ?? {};
    const current = matches[e.list];
    if (!current || (current.kind === 'domain' && e.kind === 'address')) {
      matches[e.list] = { kind: e.kind, value: e.value, source: e.source, ...(e.auth ? { auth: e.auth } : {}) };
    }
    out.matches.set(e.user_id, matches);
  }
  out.senderOptedOut = row.opted_out ?? false;
  for (const s of row.sent ?? []) out.sent.set(s.user_id, { matched: s.matched ?? [], hasLog: s.has_log });
  return out;
}
