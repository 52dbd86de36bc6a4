/**
 * `crgate train`: bootstraps the classifier from mail folders (Maildir, mbox or .eml files) into the
 * global model, or into one user's model with --as. Idempotent: a message trained twice counts once,
 * and a message moved from the ham folder to the spam folder moves its counts.
 */
import { createHash } from 'node:crypto';
import { tokenize, type Label, type TokenStore } from '@crgate/classifier';
import { readMailSources } from '@crgate/ingest';
import { reportSkipped } from './cli-helpers.js';

export interface TrainProgress {
  label: Label;
  done: number;
  total: number;
}

export async function countMessages(paths: string[]): Promise<number> {
  let n = 0;
  for await (const _m of readMailSources(paths)) n++;
  return n;
}

export async function trainFolders(
  store: TokenStore,
  scope: number,
  sets: Array<{ label: Label; paths: string[] }>,
  progress?: (p: TrainProgress) => void,
  concurrency = 4,
): Promise<Record<Label, number> & { unchanged: number }> {
  // `unchanged` counts messages the model already held with the same label: training is idempotent,
  // and an operator running it again should see that nothing moved rather than the same figures.
  const trained = { ham: 0, spam: 0, unchanged: 0 };
  for (const { label, paths } of sets) {
    if (paths.length === 0) continue;
    const total = progress ? await countMessages(paths) : 0;
    const running = new Set<Promise<void>>();
    try {
      for await (const { raw } of readMailSources(paths, reportSkipped)) {
        const job = (async () => {
          const key = createHash('sha256').update(raw).digest('hex');
          if (!(await store.train(scope, key, await tokenize(raw), label, 1))) trained.unchanged++;
          trained[label]++;
          progress?.({ label, done: trained[label], total });
        })();
        running.add(job);
        const done = () => running.delete(job);
        job.then(done, done);
        if (running.size >= concurrency) await Promise.race(running);
      }
      await Promise.all(running);
    } finally {
      // A folder that fails half-way (a file that cannot be read) still lets the messages already
      // handed out finish before the caller closes the database.
      await Promise.allSettled(running);
    }
  }
  return trained;
}

/**
 * `[#########.........]  512/3399 ham` on one terminal line, erased to its end: the spam bar that
 * follows the ham bar is shorter when there is less spam, and must not leave the ham bar's last
 * characters behind it ("4/4 spamm").
 */
export function progressBar(p: TrainProgress, width = 30): string {
  const filled = p.total ? Math.round((p.done / p.total) * width) : 0;
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(p.done).padStart(String(p.total).length)}/${p.total} ${p.label}\x1b[K`;
}
