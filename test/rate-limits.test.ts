/**
 * The hourly challenge limits in Redis count the hour that ends now, not clock hours: around a full
 * hour, the end of one hour's allowance and the start of the next must not add up to twice the limit.
 * A retried send of the same challenge takes no second slot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisKeys, takeChallengeSlot } from '@crgate/store';
import { REDIS_URL } from './helpers/environment.js';

describe('challenge rate limits', () => {
  const prefix = `crgate_t_${randomBytes(5).toString('hex')}`;
  const keys = redisKeys(prefix);
  let redis: Redis;
  const take = (challengeId: string, sender: string, now: string) =>
    takeChallengeSlot(redis, keys, { challengeId, sender, now: new Date(now), perSenderPerHour: 2, globalPerHour: 3 });

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    const left = await redis.keys(`${prefix}:*`);
    if (left.length) await redis.del(...left);
    redis.disconnect();
  });

  it('holds the global limit across a full hour, and frees a slot an hour after it was taken', async () => {
    expect(await take('g1', 'a@one.test', '2026-12-03T09:59:00Z')).toBe('allowed');
    expect(await take('g2', 'b@two.test', '2026-12-03T09:59:30Z')).toBe('allowed');
    expect(await take('g3', 'c@three.test', '2026-12-03T09:59:59Z')).toBe('allowed');
    expect(await take('g4', 'd@four.test', '2026-12-03T10:00:01Z')).toBe('global-limit');
    expect(await take('g5', 'd@four.test', '2026-12-03T10:59:01Z')).toBe('allowed');
    expect(await take('g6', 'e@five.test', '2026-12-03T10:59:02Z')).toBe('global-limit');
  });

  it('holds the limit per sender, and counts a retried challenge once', async () => {
    expect(await take('s1', 'x@sender.test', '2026-12-03T12:00:00Z')).toBe('allowed');
    expect(await take('s1', 'x@sender.test', '2026-12-03T12:00:05Z')).toBe('allowed');
    expect(await take('s2', 'x@sender.test', '2026-12-03T12:30:00Z')).toBe('allowed');
    expect(await take('s3', 'x@sender.test', '2026-12-03T12:59:59Z')).toBe('sender-limit');
    // The retry took no slot of its own: s1 counts from its first send and leaves the window at 13:00.
    expect(await take('s3', 'x@sender.test', '2026-12-03T13:00:01Z')).toBe('allowed');
  });
});
