/**
 * Challenge rate limits counted in Redis, enforced across processes. Each window is a set of
 * challenge ids rather than a counter, so a retried send of the same challenge is not counted twice.
 */
import type { RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

// KEYS[1] sender window, KEYS[2] global window; ARGV: challenge id, sender limit, global limit, ttl seconds.
// Returns 0 when allowed (and recorded), 1 when the sender limit stops it, 2 for the global limit.
const TAKE_SLOT = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 0
`;

export type SlotResult = 'allowed' | 'sender-limit' | 'global-limit';

export async function takeChallengeSlot(
  redis: RedisClient,
  keys: RedisKeys,
  args: { challengeId: string; sender: string; now: Date; perSenderPerHour: number; globalPerHour: number },
): Promise<SlotResult> {
  const hour = Math.floor(args.now.getTime() / 3_600_000);
  const result = (await redis.eval(
    TAKE_SLOT,
    2,
    keys.senderHourly(args.sender, hour),
    keys.globalHourly(hour),
    args.challengeId,
    String(args.perSenderPerHour),
    String(args.globalPerHour),
    '7200',
  )) as number;
  return result === 0 ? 'allowed' : result === 1 ? 'sender-limit' : 'global-limit';
}
