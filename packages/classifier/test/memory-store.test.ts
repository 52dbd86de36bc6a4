import { describe, expect, it } from 'vitest';
import { MemoryTokenStore } from '../src/index.js';

async function snapshot(store: MemoryTokenStore, scopes: number[], tokens: string[]) {
  return { totals: await store.totals(scopes), counts: Object.fromEntries(await store.counts(scopes, tokens)) };
}

describe('MemoryTokenStore', () => {
  it('counts a trained message in its totals and each of its tokens once', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'm1', ['cheap', 'pills', 'cheap'], 'spam', 1);
    expect(await snapshot(store, [0], ['cheap', 'pills', 'unseen'])).toEqual({
      totals: { nham: 0, nspam: 1 },
      counts: { cheap: { ham: 0, spam: 1 }, pills: { ham: 0, spam: 1 } },
    });
  });

  it('changes nothing when the same message is trained again with the same label', async () => {
    const once = new MemoryTokenStore();
    await once.train(0, 'm1', ['hello', 'world'], 'ham', 1);
    const twice = new MemoryTokenStore();
    await twice.train(0, 'm1', ['hello', 'world'], 'ham', 1);
    await twice.train(0, 'm1', ['hello', 'world'], 'ham', 1);
    expect(await snapshot(twice, [0], ['hello', 'world'])).toEqual(await snapshot(once, [0], ['hello', 'world']));
  });

  it('moves a message retrained with the other label from ham to spam', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'm1', ['invoice', 'attached'], 'ham', 1);
    await store.train(0, 'm2', ['invoice', 'lunch'], 'ham', 1);
    await store.train(0, 'm1', ['invoice', 'attached'], 'spam', 1);
    expect(await snapshot(store, [0], ['invoice', 'attached', 'lunch'])).toEqual({
      totals: { nham: 1, nspam: 1 },
      counts: { invoice: { ham: 1, spam: 1 }, attached: { ham: 0, spam: 1 }, lunch: { ham: 1, spam: 0 } },
    });
  });

  it('replaces a message’s weight when it is retrained with another one', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'm1', ['maybe'], 'spam', 0.5);
    await store.train(0, 'm1', ['maybe'], 'spam', 2);
    expect(await snapshot(store, [0], ['maybe'])).toEqual({ totals: { nham: 0, nspam: 2 }, counts: { maybe: { ham: 0, spam: 2 } } });
  });

  it('keeps weighted counts: a message trained with weight 0.5 adds 0.5', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'm1', ['guess'], 'ham', 0.5);
    await store.train(0, 'm2', ['guess'], 'ham', 1);
    expect(await snapshot(store, [0], ['guess'])).toEqual({ totals: { nham: 1.5, nspam: 0 }, counts: { guess: { ham: 1.5, spam: 0 } } });
  });

  it('takes a message out on untrain, forgetting tokens no other message has', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'm1', ['shared', 'only-m1'], 'spam', 0.3);
    await store.train(0, 'm2', ['shared'], 'spam', 1);
    await store.untrain(0, 'm1');
    expect(await snapshot(store, [0], ['shared', 'only-m1'])).toEqual({
      totals: { nham: 0, nspam: 1 },
      counts: { shared: { ham: 0, spam: 1 } },
    });
  });

  it('ignores untrain of a message it never trained', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'm1', ['kept'], 'ham', 1);
    await store.untrain(0, 'other');
    await store.untrain(9, 'm1');
    expect(await snapshot(store, [0], ['kept'])).toEqual({ totals: { nham: 1, nspam: 0 }, counts: { kept: { ham: 1, spam: 0 } } });
  });

  it('keeps scopes apart and sums the scopes it is asked for', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'global', ['meeting', 'agenda'], 'ham', 1);
    await store.train(7, 'mine', ['meeting'], 'spam', 1);
    await store.train(8, 'theirs', ['meeting'], 'spam', 1);
    expect(await snapshot(store, [0, 7], ['meeting', 'agenda'])).toEqual({
      totals: { nham: 1, nspam: 1 },
      counts: { meeting: { ham: 1, spam: 1 }, agenda: { ham: 1, spam: 0 } },
    });
    expect((await snapshot(store, [7], ['agenda'])).counts).toEqual({});
  });

  it('treats the same (scope, key) in two scopes as two messages', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'm1', ['word'], 'ham', 1);
    await store.train(7, 'm1', ['word'], 'spam', 1);
    expect(await snapshot(store, [0, 7], ['word'])).toEqual({ totals: { nham: 1, nspam: 1 }, counts: { word: { ham: 1, spam: 1 } } });
  });

  it('counts a scope listed twice once', async () => {
    const store = new MemoryTokenStore();
    await store.train(0, 'm1', ['word'], 'ham', 1);
    expect(await snapshot(store, [0, 0], ['word'])).toEqual({ totals: { nham: 1, nspam: 0 }, counts: { word: { ham: 1, spam: 0 } } });
  });

  it('refuses a weight that is not a positive number', async () => {
    const store = new MemoryTokenStore();
    for (const weight of [0, -1, Number.NaN, Infinity]) {
      await expect(store.train(0, 'm1', ['x'], 'ham', weight)).rejects.toThrow(RangeError);
    }
  });
});
