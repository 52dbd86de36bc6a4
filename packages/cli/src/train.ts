/**
 * `crgate train`: bootstraps the classifier from mail folders (Maildir, mbox or .eml files) into the
 * global model, or into one user's model with --as. Idempotent: a message trained twice counts once,
 * and a message moved from the ham folder to the spam folder moves its counts.
 */
import { createHash } from 'node:crypto';
import { tokenize, type Label, type TokenStore } from '@crgate/classifier';
import { readMailSources } from '@crgate/ingest';

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
): Promise<Record<Label, number>> {
  const trained: Record<Label, number> = { ham: 0, spam: 0 };
  for (const { label, paths } of sets) {
    if (paths.length === 0) continue;
    const total = progress ? await countMessages(paths) : 0;
    const running = new Set<Promise<void>>();
    for await (const { raw } of readMailSources(paths)) {
      const job = (async () => {
        const key = createHash('sha256').update(raw).digest('hex');
        await store.train(scope, key, await tokenize(raw), label, 1);
        trained[label]++;
        progress?.({ label, done: trained[label], total });
      })();
      running.add(job);
      void job.finally(() => running.delete(job));
      if (running.size >= concurrency) await Promise.race(running);
    }
    await Promise.all(running);
  }
  return trained;
}

/** `[#########.........]  512/3399 ham` on one terminal line. */
export function progressBar(p: TrainProgress, width = 30): string {
  const filled = p.total ? Math.round((p.done / p.total) * width) : 0;
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(p.done).padStart(String(p.total).length)}/${p.total} ${p.label}`;
}
