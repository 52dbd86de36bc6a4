/** A forked child with request/reply over IPC. */
import { fork } from 'node:child_process';

export function forkChild(modulePath, { execArgv = [], env = process.env, stdio } = {}) {
  const child = fork(modulePath, [], {
    execArgv,
    env,
    stdio: stdio ?? ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const pending = new Map();
  const listeners = [];
  // A send to a child that has gone is reported by request() itself; never as an unhandled 'error'.
  child.on('error', () => undefined);
  child.on('message', (m) => {
    if (m?.type === 'reply' && pending.has(m.id)) {
      const { resolve, reject } = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) reject(new Error(m.error));
      else resolve(m.value);
      return;
    }
    for (const l of [...listeners]) l(m);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  void exited.then(({ code, signal }) => {
    for (const { reject } of pending.values()) reject(new Error(`${modulePath} exited (${code ?? signal})`));
    pending.clear();
  });
  return {
    child,
    exited,
    request(type, extra = {}) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        if (!child.connected) return reject(new Error(`${modulePath} is gone`));
        pending.set(id, { resolve, reject });
        child.send({ type, id, ...extra }, (err) => {
          if (err && pending.delete(id)) reject(err);
        });
      });
    },
    /** Resolves with the first message of `type`; rejects on a 'failed'/'error' message or exit. */
    waitFor(type, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`${modulePath}: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
        const onMessage = (m) => {
          if (m?.type === type) done(null, m);
          else if (m?.type === 'failed' || m?.type === 'error') done(new Error(`${modulePath}: ${m.error}`));
        };
        const done = (err, value) => {
          clearTimeout(timer);
          const i = listeners.indexOf(onMessage);
          if (i >= 0) listeners.splice(i, 1);
          if (err) reject(err);
          else resolve(value);
        };
        listeners.push(onMessage);
        void exited.then(({ code, signal }) => done(new Error(`${modulePath} exited (${code ?? signal}) before "${type}"`)));
      });
    },
    send(m) {
      if (child.connected) child.send(m, () => undefined);
    },
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
