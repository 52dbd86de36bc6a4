/**
 * Every Redis key crgate writes is built here, under the configured prefix, so an operator can see
 * (and a test can isolate) the whole key space. BullMQ queues live under `<prefix>:q`.
 */
export function redisKeys(prefix: string) {
  return {
    /** BullMQ's own prefix for queue keys. */
    bullPrefix: `${prefix}:q`,
    /** Challenge ids sent to one sender in the last hour, by time sent (a sorted set). */
    senderWindow: (sender: string) => `${prefix}:rl:sender:${sender}`,
    /** Challenge ids sent in the last hour, all senders, by time sent (a sorted set). */
    globalWindow: () => `${prefix}:rl:global`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
