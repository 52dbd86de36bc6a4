/**
 * The BullMQ queues the worker adds jobs to, on the producer connection (which fails fast while Redis is
 * away: the outbox keeps the work). BullMQ sets a queue up once — it waits for the connection, then asks
 * Redis its version — and a queue whose setup Redis cut short (the connection dropped with that question
 * unanswered, as when Redis restarts while the worker starts) keeps failing with that error for good,
 * even once Redis is back: the relay could never move a row again. Such a queue is closed and built
 * anew the next time it is asked for.
 */
import type { Queue } from 'bullmq';
import type { Logger } from '@crgate/core';
import { QUEUES, type QueueName } from '@crgate/store';

interface Entry {
  queue: Queue;
  /** Its setup failed: it will never work. */
  broken: boolean;
}

export class ProducerQueues {
  private readonly entries = new Map<QueueName, Entry>();

  /** `create` builds a queue (with its 'error' listener) on the producer connection. */
  constructor(
    private readonly create: (name: QueueName) => Queue,
    private readonly logger: Logger,
  ) {
    for (const name of Object.values(QUEUES)) this.entries.set(name, this.build(name));
  }

  private build(name: QueueName): Entry {
    const entry: Entry = { queue: this.create(name), broken: false };
    // The error itself reaches the queue's 'error' listener.
    entry.queue.waitUntilReady().catch(() => {
      entry.broken = true;
    });
    return entry;
  }

  /** The queue to use now: one still being set up (it waits for Redis), or set up; never a broken one. */
  get(name: QueueName): Queue | undefined {
    let entry = this.entries.get(name);
    if (!entry) return undefined;
    if (entry.broken) {
      void entry.queue.close().catch(() => undefined);
      entry = this.build(name);
      this.entries.set(name, entry);
      this.logger.info({ event: 'worker.queue_rebuilt', queue: name }, `queue ${name} built again: Redis went away while it was being set up`);
    }
    return entry.queue;
  }

  names(): QueueName[] {
    return [...this.entries.keys()];
  }

  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.queue.close().catch(() => undefined)));
  }
}
