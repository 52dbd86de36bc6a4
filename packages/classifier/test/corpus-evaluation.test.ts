/**
 * The measurement behind docs/classifier.md: train a MemoryTokenStore on one half of the development
 * corpus's ham and spam (split by a hash of each raw message), classify the other half, then swap the
 * halves, so a result that holds only for one lucky split shows. Prints both confusion tables, the
 * issue's goals, a sweep of cut-offs and the time taken; asserts the goals the filter meets, keeps the
 * measured level of the others as a floor, and lists the goals it does not meet yet as expected
 * failures, which turn red the day they are met so the floor can be raised.
 *
 * Skipped when the corpus is not there (it lives outside the repository).
 */
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  classify,
  confusion,
  DEFAULT_CLASSIFIER_OPTIONS,
  formatConfusion,
  MemoryTokenStore,
  splitForEvaluation,
  tokenize,
  verdictFor,
  type ClassifierOptions,
  type Label,
  type Verdict,
} from '../src/index.js';

const CORPUS = new URL('../../../../shared/corpus/', import.meta.url);

interface Message {
  path: string;
  label: Label;
  subtype: string;
  personToPerson: boolean;
  raw: Buffer;
  tokens: string[];
}

interface Result {
  message: Message;
  score: number;
  verdict: Verdict;
}

interface Fold {
  name: string;
  results: Result[];
  classifyMs: number;
}

/** The goals, measured on one fold's held-out messages. */
function goals(results: readonly Result[], options: ClassifierOptions = DEFAULT_CLASSIFIER_OPTIONS) {
  const verdict = (r: Result) => (options === DEFAULT_CLASSIFIER_OPTIONS ? r.verdict : verdictFor(r.score, options));
  const ham = results.filter((r) => r.message.label === 'ham');
  const spam = results.filter((r) => r.message.label === 'spam');
  const p2p = ham.filter((r) => r.message.personToPerson);
  const share = (list: readonly Result[], v: Verdict) => list.filter((r) => verdict(r) === v).length / list.length;
  return {
    hamAsSpam: ham.filter((r) => verdict(r) === 'spam').length,
    personToPersonAsHam: share(p2p, 'ham'),
    hamUnsure: share(ham, 'unsure'),
    spamAsSpam: share(spam, 'spam'),
    spamAsHam: share(spam, 'ham'),
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

// The shared corpus lives beside the project (CI has it); without it this fails rather than pass silently.
describe('the filter on held-out corpus mail', () => {
  const folds: Fold[] = [];
  const messages: Message[] = [];
  let tokenizeMs = 0;

  beforeAll(async () => {
    const manifest = (await readFile(new URL('manifest.tsv', CORPUS), 'utf8')).trim().split('\n');
    const header = (manifest[0] ?? '').split('\t');
    const column = (name: string) => header.indexOf(name);
    for (const line of manifest.slice(1)) {
      const cells = line.split('\t');
      const category = cells[column('category')];
      if (category !== 'ham' && category !== 'spam') continue;
      const path = cells[column('path')] ?? '';
      messages.push({
        path,
        label: category,
        subtype: cells[column('subtype')] ?? '',
        personToPerson: cells[column('has_list_headers')] === 'n',
        raw: await readFile(new URL(path, CORPUS)),
        tokens: [],
      });
    }
    const started = performance.now();
    for (const m of messages) m.tokens = await tokenize(m.raw);
    tokenizeMs = performance.now() - started;

    const halves = splitForEvaluation(messages, 0.5, (m) => m.raw);
    for (const [name, train, test] of [
      ['A (train on half 1, test on half 2)', halves.train, halves.test],
      ['B (train on half 2, test on half 1)', halves.test, halves.train],
    ] as const) {
      const store = new MemoryTokenStore();
      for (const m of train) await store.train(0, m.path, m.tokens, m.label, 1);
      const totals = await store.totals([0]);
      const results: Result[] = [];
      let classifyMs = 0;
      for (const m of test) {
        const counts = await store.counts([0], m.tokens);
        const t = performance.now();
        const c = classify(m.tokens, totals, counts);
        classifyMs += performance.now() - t;
        results.push({ message: m, score: c.score, verdict: c.verdict });
      }
      folds.push({ name, results, classifyMs });
    }
  }, 180_000);

  it('prints the confusion tables of both folds, the goals, a cut-off sweep and the speed', () => {
    const lines: string[] = [];
    for (const fold of folds) {
      const g = goals(fold.results);
      const falsePositives = fold.results
        .filter((r) => r.message.label === 'ham' && r.verdict === 'spam')
        .map((r) => `${r.message.path} (${r.message.subtype}, ${r.score.toFixed(3)})`);
      lines.push(
        `\nfold ${fold.name}, cut-offs ham < ${DEFAULT_CLASSIFIER_OPTIONS.hamCutoff}, spam >= ${DEFAULT_CLASSIFIER_OPTIONS.spamCutoff}`,
        formatConfusion(confusion(fold.results.map((r) => ({ truth: r.message.label, verdict: r.verdict })))),
        `ham as spam ${g.hamAsSpam} (goal 0) | person-to-person ham as ham ${pct(g.personToPersonAsHam)} (goal >= 97%) | ` +
          `ham unsure ${pct(g.hamUnsure)} (goal <= 3%) | spam as spam ${pct(g.spamAsSpam)} (goal >= 95%) | spam as ham ${pct(g.spamAsHam)} (goal <= 0.5%)`,
        `ham classified spam: ${falsePositives.join(', ') || 'none'}`,
      );
    }
    lines.push('\ncut-off sweep (fold A | fold B): ham as spam, ham unsure, person-to-person ham as ham, spam as spam, spam as ham');
    for (const hamCutoff of [0.05, 0.1, 0.2]) {
      for (const spamCutoff of [0.8, 0.9, 0.95, 0.99, 0.999]) {
        const cells = folds.map((f) => {
          const g = goals(f.results, { hamCutoff, spamCutoff });
          return `${g.hamAsSpam} ${pct(g.hamUnsure)} ${pct(g.personToPersonAsHam)} ${pct(g.spamAsSpam)} ${pct(g.spamAsHam)}`;
        });
        lines.push(`  ham < ${hamCutoff}, spam >= ${spamCutoff}: ${cells.join(' | ')}`);
      }
    }
    const perMessage = (ms: number, n: number) => `${((1000 * ms) / n).toFixed(0)} µs`;
    const tested = folds.reduce((n, f) => n + f.results.length, 0);
    lines.push(
      `\nspeed: tokenize (parse included) ${perMessage(tokenizeMs, messages.length)} per message over ${messages.length} messages ` +
        `(${(messages.reduce((n, m) => n + m.raw.length, 0) / messages.length / 1024).toFixed(1)} KB on average); ` +
        `classify ${perMessage(folds.reduce((ms, f) => ms + f.classifyMs, 0), tested)} per message, store lookups excluded`,
    );
    console.log(lines.join('\n'));
    expect(folds).toHaveLength(2);
  });

  it('keeps unsure at or below 3% of held-out ham (goal)', () => {
    for (const fold of folds) expect(goals(fold.results).hamUnsure).toBeLessThanOrEqual(0.03);
  });

  it('stays at or above the level measured when the filter was written', () => {
    for (const fold of folds) {
      const g = goals(fold.results);
      expect(g.hamAsSpam).toBeLessThanOrEqual(8);
      expect(g.personToPersonAsHam).toBeGreaterThanOrEqual(0.93);
      expect(g.spamAsSpam).toBeGreaterThanOrEqual(0.9);
      expect(g.spamAsHam).toBeLessThanOrEqual(0.015);
    }
  });

  // The other goals (no ham as spam, ≥ 97% of person-to-person ham as ham, ≥ 95% of spam as
  // spam, ≤ 0.5% of spam as ham) are not met on this corpus at the default cut-offs: docs/classifier.md
  // has the measured figures and the cut-off sweep. The floor above keeps them from getting worse.
});
