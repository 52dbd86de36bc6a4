/**
 * Challenge rate limits counted in Redis, enforced across processes, over the hour that ends now (a
 * sliding window): fixed clock hours would let twice a limit out around each full hour, the end of one
 * hour's allowance followed by the start of the next. Each window is a sorted set of challenge ids by
 * the time they were sent, so a retried send of the same challenge is not counted twice. A slot is
 * taken before the send, when the relay may still refuse or be away, and is moved to the time the
 * relay accepted the challenge (challengeSlotUsed): counted from a failed first attempt, a challenge
 * sent an hour later would leave the window at once and let a whole second allowance out beside it.
 */
import type { RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

const WINDOW_MS = 3_600_000;

// KEYS[1] sender window, KEYS[2] global window; ARGV: challenge id, sender limit, global limit, now (ms), window (ms).
// Returns 0 when allowed (and recorded), 1 when the sender limit stops it, 2 for the global limit.
const TAKE_SLOT = `
local cutoff = tonumber(ARGV[4]) - tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 0
`;

export type SlotResult = 'allowed' | 'sender-limit' | 'global-limit';

export async function takeChallengeSlot(
  redis: RedisClient,
  keys: RedisKeys,
  args: { challengeId: string; sender: string; now: Date; perSenderPerHour: number; globalPerHour: number },
): Promise<SlotResult> {
  const result = (await redis.eval(
    TAKE_SLOT,
    2,
    keys.senderWindow(args.sender),
    keys.globalWindow(),
    args.challengeId,
    String(args.perSenderPerHour),
    String(args.globalPerHour),
    String(args.now.getTime()),
    String(WINDOW_MS),
  )) as number;
  return result === 0 ? 'allowed' : result === 1 ? 'sender-limit' : 'global-limit';
}

// KEYS[1] sender window, KEYS[2] global window; ARGV: challenge id, now (ms), window (ms).
const SLOT_USED = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 0
`;

/**
 * The challenge was sent now: its slot counts from now, not from the attempt that took it. The member
 * count is unchanged (the slot was taken under the limit), so no window ever holds more than its limit,
 * and every challenge sent in an hour is still in the window at the end of that hour.
 */
export async function challengeSlotUsed(
  redis: RedisClient,
  keys: RedisKeys,
  args: { challengeId: string; sender: string; now: Date },
): Promise<void> {
  await redis.eval(SLOT_USED, 2, keys.senderWindow(args.sender), keys.globalWindow(), args.challengeId, String(args.now.getTime()), String(WINDOW_MS));
}
