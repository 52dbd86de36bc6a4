/**
 * Runs the real `crgate` command as a child process, the way an operator does, and reads its JSON log
 * lines. Used by the end-to-end tests that need to kill -9 it or see it start and stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../packages/cli/bin/crgate.js', import.meta.url));

export interface EngineProcess {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  output: () => string;
  /** Resolves with the exit code (or null and the signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export function startEngineProcess(env: Record<string, string>, args: string[] = []): EngineProcess {
  const child = spawn(process.execPath, [CLI, 'start', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  let text = '';
  let pending = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line));
      } catch {
        // not a log line
      }
    }
    waiters.forEach((w) => w());
  });
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    logs,
    output: () => text,
    exited,
    waitForLog(predicate, what, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(predicate);
          if (found) {
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output:\n${text}`)), timeoutMs);
        waiters.push(check);
        void exited.then(() => {
          clearTimeout(timer);
          if (!logs.find(predicate)) reject(new Error(`engine exited before ${what}; output:\n${text}`));
        });
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function startEngineReady(env: Record<string, string>, args: string[] = []): Promise<EngineProcess> {
  const engine = startEngineProcess(env, args);
  await engine.waitForLog((l) => l.event === 'engine.started', 'engine start');
  return engine;
}
