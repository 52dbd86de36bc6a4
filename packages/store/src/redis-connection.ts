/**
 * One way to open Redis for every role and command: a single server (redisUrl), a master found
 * through Redis Sentinel (redisSentinels + redisSentinelName; ioredis follows a failover by asking
 * the Sentinels again), or a Redis Cluster (redisCluster; redisUrl names one node, the others are
 * discovered). Which keys go where is redis-keys.ts's business: on a Cluster the prefix carries a
 * {hash tag}, so every key lands in one slot.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '@crgate/core';

export type RedisConfig = Pick<Config, 'redisUrl' | 'redisSentinels' | 'redisSentinelName' | 'redisSentinelPassword' | 'redisCluster'>;
export type RedisClient = Redis | Cluster;

export type RedisTarget =
  | { kind: 'server'; options: RedisOptions }
  | { kind: 'sentinel'; options: RedisOptions }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; options: ClusterOptions };

/**
 * How to reach the configured Redis, as ioredis options (pure, so it can be checked without a Redis).
 * `extra` are the caller's connection options (retries, offline queue); on a Cluster they apply to the
 * connection of each node, where BullMQ also looks for them.
 */
export function redisTarget(cfg: RedisConfig, extra: RedisOptions = {}): RedisTarget {
  const url = new URL(cfg.redisUrl);
  const credentials: RedisOptions = {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const db = Number(url.pathname.replace(/^\//, '') || 0);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 6379);
  if (cfg.redisCluster) {
    return {
      kind: 'cluster',
      nodes: [{ host, port }],
      options: {
        redisOptions: { ...credentials, ...extra },
        ...(extra.enableOfflineQueue === undefined ? {} : { enableOfflineQueue: extra.enableOfflineQueue }),
        ...(extra.lazyConnect === undefined ? {} : { lazyConnect: extra.lazyConnect }),
      },
    };
  }
  if (cfg.redisSentinels.length > 0) {
    return {
      kind: 'sentinel',
      options: {
        ...credentials,
        db,
        sentinels: cfg.redisSentinels.map((s) => ({ host: s.host, port: s.port })),
        name: cfg.redisSentinelName,
        ...(cfg.redisSentinelPassword ? { sentinelPassword: cfg.redisSentinelPassword } : {}),
        ...extra,
      },
    };
  }
  return { kind: 'server', options: { ...credentials, db, host, port, ...extra } };
}

/** Opens the configured Redis (connecting at once unless `extra.lazyConnect`). */
export function connectRedis(cfg: RedisConfig, extra: RedisOptions = {}): RedisClient {
  const target = redisTarget(cfg, extra);
  return target.kind === 'cluster' ? new Cluster(target.nodes, target.options) : new Redis(target.options);
}
