/**
 * Every Redis key crgate writes is built here, under the configured prefix, so an operator can see
 * (and a test can isolate) the whole key space. BullMQ queues live under `<prefix>:q`.
 */
export function redisKeys(prefix: string) {
  return {
    /** BullMQ's own prefix for queue keys. */
    bullPrefix: `${prefix}:q`,
    /** Set of challenge ids sent to one sender in one hour window. */
    senderHourly: (sender: string, hour: number) => `${prefix}:rl:sender:${hour}:${sender}`,
    /** Set of challenge ids sent in one hour window, all senders. */
    globalHourly: (hour: number) => `${prefix}:rl:global:${hour}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
