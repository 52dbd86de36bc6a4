/**
 * `crgate eval`: trains an in-memory model on one part of the labelled mail and replays the other
 * part through the whole decision, as the ingest would decide it, then prints decision × truth. The
 * running engine's model and database are not touched. The split is by a hash of each message, so it
 * is the same on every run and independent of file names.
 */
import { createHash } from 'node:crypto';
import { MemoryTokenStore, tokenize, type Label, type Verdict } from '@crgate/classifier';
import { createDecisionPipeline, ContentChecker, parseHeaders, readMailSources, storedEnvelopeOf } from '@crgate/ingest';
import type { Config, DecisionAction, Logger } from '@crgate/core';
import type { Db, User } from '@crgate/store';
import { reportSkipped } from './cli-helpers.js';

export interface EvalOptions {
  ham: string[];
  spam: string[];
  /** Train on these instead of splitting ham/spam. */
  trainHam?: string[];
  trainSpam?: string[];
  /** Share of each set used for training when splitting (default 0.5). */
  trainFraction: number;
  offline: boolean;
}

export interface EvalRow {
  file: string;
  truth: Label;
  /** What kind of mail it is, for the table's rows (see kindOf). */
  kind: MailKind;
  decision: DecisionAction;
  verdict?: Verdict;
  score?: number;
}

interface Loaded {
  file: string;
  raw: Buffer;
  key: string;
}

async function load(paths: string[]): Promise<Loaded[]> {
  const out: Loaded[] = [];
  for await (const { file, raw } of readMailSources(paths, reportSkipped)) out.push({ file, raw, key: createHash('sha256').update(raw).digest('hex') });
  return out;
}

/** Deterministic: a message is in the training part when the first 4 bytes of its hash fall below the fraction. */
function inTrainingPart(key: string, fraction: number): boolean {
  return parseInt(key.slice(0, 8), 16) / 0x1_0000_0000 < fraction;
}

export type MailKind = 'personal' | 'bulk' | 'list';

/** Words a sender of bulk mail must offer and a person writing to a person never does. */
const UNSUBSCRIBE_RE = /unsubscribe|opt[- ]?out|to be removed|remove yourself|removed from (?:our|this) (?:mailing )?list|no longer wish to receive/i;

/**
 * List mail carries list headers (or Precedence: list); bulk mail — newsletters, offers, notices a
 * company sends to many, wanted or not — offers a way out (List-Unsubscribe, Precedence: bulk, or
 * unsubscribe wording); person-to-person mail is the rest. The goal for delivering without a
 * challenge is set on person-to-person mail, so the table shows the three apart.
 */
export function kindOf(headers: ReadonlyMap<string, readonly string[]>, raw: Buffer): MailKind {
  const precedence = headers.get('precedence')?.[0]?.toLowerCase().trim();
  const names = [...headers.keys()];
  if (names.some((h) => (h.startsWith('list-') && h !== 'list-unsubscribe') || h === 'mailing-list' || h === 'x-mailing-list') || precedence === 'list') return 'list';
  if (headers.has('list-unsubscribe') || precedence === 'bulk' || precedence === 'junk') return 'bulk';
  return UNSUBSCRIBE_RE.test(raw.toString('latin1')) ? 'bulk' : 'personal';
}

export async function evaluate(config: Config, db: Db, options: EvalOptions, logger: Logger): Promise<EvalRow[]> {
  const sets = { ham: await load(options.ham), spam: await load(options.spam) };
  const explicit = options.trainHam || options.trainSpam;
  const train = explicit
    ? { ham: await load(options.trainHam ?? []), spam: await load(options.trainSpam ?? []) }
    : {
        ham: sets.ham.filter((m) => inTrainingPart(m.key, options.trainFraction)),
        spam: sets.spam.filter((m) => inTrainingPart(m.key, options.trainFraction)),
      };
  const test = explicit
    ? sets
    : {
        ham: sets.ham.filter((m) => !inTrainingPart(m.key, options.trainFraction)),
        spam: sets.spam.filter((m) => !inTrainingPart(m.key, options.trainFraction)),
      };

  const store = new MemoryTokenStore();
  for (const label of ['ham', 'spam'] as const) {
    for (const m of train[label]) await store.train(0, m.key, await tokenize(m.raw), label, 1);
  }
  const content = new ContentChecker({ ...config, classifier: { ...config.classifier, enabled: true } }, store, logger);
  const pipeline = createDecisionPipeline(config, { db, offline: options.offline, content, logger });
  const user: User = { id: -1, address: 'eval@crgate.invalid', aliases: [], challengesEnabled: true, language: 'en', isAdmin: false, createdAt: new Date() };

  const rows: EvalRow[] = [];
  for (const truth of ['ham', 'spam'] as const) {
    for (const m of test[truth]) {
      const { headers } = parseHeaders(m.raw);
      const { decisions, content: checked } = await pipeline.decideFor(m.raw, storedEnvelopeOf(headers), [user], logger);
      const v = checked?.verdicts.get(user.id);
      rows.push({ file: m.file, truth, kind: kindOf(headers, m.raw), decision: decisions.get(user.id)!.action, verdict: v?.verdict, score: v?.score });
    }
  }
  return rows;
}

export function formatEvaluation(rows: EvalRow[], config: Config): string {
  const actions: DecisionAction[] = ['deliver', 'challenge', 'quarantine', 'discard'];
  const verdicts: Verdict[] = ['ham', 'unsure', 'spam'];
  const pct = (n: number, of: number) => (of ? `${((100 * n) / of).toFixed(1)}%` : '-');
  const table = (title: string, columns: string[], cell: (r: EvalRow) => string, groups: Array<[string, EvalRow[]]>) => {
    const lines = [`${title.padEnd(16)}${columns.map((c) => c.padStart(16)).join('')}${'total'.padStart(8)}`];
    for (const [name, rs] of groups) {
      lines.push(`${name.padEnd(16)}${columns.map((c) => { const n = rs.filter((r) => cell(r) === c).length; return `${n} (${pct(n, rs.length)})`.padStart(16); }).join('')}${String(rs.length).padStart(8)}`);
    }
    return lines.join('\n');
  };
  const groups: Array<[string, EvalRow[]]> = [
    ['ham', rows.filter((r) => r.truth === 'ham')],
    ['  personal ham', rows.filter((r) => r.truth === 'ham' && r.kind === 'personal')],
    ['  bulk ham', rows.filter((r) => r.truth === 'ham' && r.kind === 'bulk')],
    ['  list ham', rows.filter((r) => r.truth === 'ham' && r.kind === 'list')],
    ['spam', rows.filter((r) => r.truth === 'spam')],
  ];
  return [
    `cut-offs: ham < ${config.classifier.hamCutoff}, spam >= ${config.classifier.spamCutoff}`,
    '',
    table('decision', actions, (r) => r.decision, groups),
    '',
    table('classifier', verdicts, (r) => r.verdict ?? 'unsure', groups),
    '',
    ...costlyMistakes(rows),
  ].join('\n');
}

/** Files listed per kind of mistake; the rest are counted. */
const MISTAKES_LISTED = 20;

/**
 * The two mistakes that cost most, by file, so an operator tuning before going live can open them:
 * wanted mail thrown away (nobody is told) and spam put in the inbox.
 */
function costlyMistakes(rows: readonly EvalRow[]): string[] {
  const lines: string[] = [];
  const list = (title: string, wrong: EvalRow[]) => {
    if (wrong.length === 0) return;
    lines.push(`${title} (${wrong.length}):`);
    for (const r of wrong.slice(0, MISTAKES_LISTED)) lines.push(`  ${r.file}  ${r.kind}, score ${r.score === undefined ? '-' : r.score.toFixed(4)}`);
    if (wrong.length > MISTAKES_LISTED) lines.push(`  … and ${wrong.length - MISTAKES_LISTED} more (--json lists every message)`);
    lines.push('');
  };
  list('ham discarded', rows.filter((r) => r.truth === 'ham' && r.decision === 'discard'));
  list('spam delivered', rows.filter((r) => r.truth === 'spam' && r.decision === 'deliver'));
  return lines;
}
