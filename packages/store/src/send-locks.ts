/**
 * One worker at a time per challenge and per released copy. BullMQ hands a job to another worker when
 * the first one's lock lapses (a worker stalled past worker.stalledMs, a Redis blip), and both would
 * then send: the row said 'queued' or 'releasing' to each until one had finished.
 *
 * The locks are PostgreSQL session advisory locks, all held on one connection of this process kept for
 * them. A process that dies loses its connection and with it its locks at once, so its work is free
 * for the next worker immediately (a lease in a column would hold it up until it ran out). Should that
 * connection itself drop while sends are under way, their locks are gone too: a second worker could
 * then repeat a send in flight, the at-most-once-repeat every crash already allows.
 */
import pg from 'pg';

export class SendLocks {
  private client: Promise<pg.Client> | undefined;
  private readonly held = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly databaseUrl: string) {}

  /** Takes the lock named `key` if no other session holds it; true when taken. */
  private async tryLock(key: string): Promise<boolean> {
    const rows = await this.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', key);
    return rows[0]!.locked;
  }

  private async unlock(key: string): Promise<void> {
    await this.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', key);
  }

  /** One statement at a time on the connection: the jobs of the process share it (pg queues no more). */
  private query<R extends pg.QueryResultRow>(text: string, key: string): Promise<R[]> {
    const next = this.queue.then(async () => (await (await this.connection()).query<R>(text, [key])).rows);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Runs `fn` under the lock; undefined, without running it, when another worker holds the lock — in
   * another process, or in this one (PostgreSQL would let the one session take its own lock twice).
   */
  async withLock<T>(key: string, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.held.has(key)) return undefined;
    this.held.add(key);
    try {
      if (!(await this.tryLock(key))) return undefined;
      try {
        return { value: await fn() };
      } finally {
        // A connection lost meanwhile took the lock with it: nothing left to unlock.
        await this.unlock(key).catch(() => undefined);
      }
    } finally {
      this.held.delete(key);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await (await client?.catch(() => undefined))?.end().catch(() => undefined);
  }

  private connection(): Promise<pg.Client> {
    if (!this.client) {
      const pending: Promise<pg.Client> = (async () => {
        const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5000 });
        // A lost connection is forgotten; the next lock opens a new one.
        const forget = () => {
          if (this.client === pending) this.client = undefined;
        };
        client.on('error', () => {
          forget();
          client.end().catch(() => undefined);
        });
        client.on('end', forget);
        await client.connect();
        return client;
      })();
      pending.catch(() => {
        if (this.client === pending) this.client = undefined;
      });
      this.client = pending;
    }
    return this.client;
  }
}
