/** The configuration → ioredis options mapping (test/redis-topologies.test.ts runs it against real servers). */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@crgate/core';
import { redisKeys, redisTarget } from '../src/index.js';

describe('the Redis connection crgate opens', () => {
  it('is the server of REDIS_URL, with its credentials and database', () => {
    const target = redisTarget(loadConfig({ REDIS_URL: 'redis://user:p%40ss@redis.example:6380/2' }), { maxRetriesPerRequest: 1 });
    expect(target).toEqual({
      kind: 'server',
      options: { username: 'user', password: 'p@ss', db: 2, host: 'redis.example', port: 6380, maxRetriesPerRequest: 1 },
    });
  });

  it('speaks TLS to a rediss: URL and takes an IPv6 address without its brackets', () => {
    expect(redisTarget(loadConfig({ REDIS_URL: 'rediss://[::1]:6390' })).options).toMatchObject({ tls: {}, host: '::1', port: 6390 });
  });

  it('asks the Sentinels for the master, keeping the master password and database of REDIS_URL', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://:secret@ignored.example:6379/1',
      CRGATE_REDIS_SENTINELS: '10.0.0.1:26379, [fd00::2]:26380',
      CRGATE_REDIS_SENTINEL_NAME: 'crgate-master',
      CRGATE_REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    });
    expect(redisTarget(config, { maxRetriesPerRequest: null })).toEqual({
      kind: 'sentinel',
      options: {
        password: 'secret',
        db: 1,
        sentinels: [
          { host: '10.0.0.1', port: 26379 },
          { host: 'fd00::2', port: 26380 },
        ],
        name: 'crgate-master',
        sentinelPassword: 'sentinel-secret',
        maxRetriesPerRequest: null,
      },
    });
  });

  it('opens a Cluster from one node, with the caller’s options on every node connection', () => {
    const config = loadConfig({ REDIS_URL: 'redis://:pw@node1.example:7000', CRGATE_REDIS_CLUSTER: 'true', CRGATE_REDIS_PREFIX: '{crgate}' });
    expect(redisTarget(config, { maxRetriesPerRequest: null, enableOfflineQueue: false })).toEqual({
      kind: 'cluster',
      nodes: [{ host: 'node1.example', port: 7000 }],
      options: { redisOptions: { password: 'pw', maxRetriesPerRequest: null, enableOfflineQueue: false }, enableOfflineQueue: false },
    });
  });

  it('puts every key under a {hash tag} prefix in the same Cluster hash slot', () => {
    const keys = redisKeys('{crgate}');
    const tag = (key: string) => /\{([^}]+)\}/.exec(key)?.[1];
    expect([keys.bullPrefix, keys.senderWindow('a@b.test'), keys.globalWindow()].map(tag)).toEqual(['crgate', 'crgate', 'crgate']);
  });
});

describe('Redis configuration', () => {
  it('refuses a Cluster without a {hash tag} in the prefix', () => {
    expect(() => loadConfig({ CRGATE_REDIS_CLUSTER: 'true' })).toThrow(/hash tag/);
  });

  it('refuses Cluster and Sentinel at once', () => {
    expect(() => loadConfig({ CRGATE_REDIS_CLUSTER: 'true', CRGATE_REDIS_PREFIX: '{crgate}', CRGATE_REDIS_SENTINELS: '127.0.0.1:26379' })).toThrow(/exclude/);
  });

  it('refuses a prefix with unbalanced or empty braces', () => {
    for (const prefix of ['{crgate', 'crgate}', '{}', '{a}{b}']) expect(() => loadConfig({ CRGATE_REDIS_PREFIX: prefix }), prefix).toThrow(/hash tag/);
  });

  it('refuses a Sentinel that is not host:port', () => {
    expect(() => loadConfig({ CRGATE_REDIS_SENTINELS: 'sentinel.example' })).toThrow(/CRGATE_REDIS_SENTINELS/);
  });
});
