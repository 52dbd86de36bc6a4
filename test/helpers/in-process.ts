/**
 * Runs the engine inside the test process through the same library entry the `crgate` command uses
 * (faster than a child process; used where no crash or signal is involved).
 */
import { loadConfig, silentLogger, type Config } from '@crgate/core';
import { startEngine, type Engine, type Role } from '@crgate/cli';

export async function startInProcess(env: Record<string, string>, roles: Role[] = ['ingest', 'worker', 'web']): Promise<Engine & { config: Config }> {
  const config = loadConfig(env);
  const engine = await startEngine(config, roles, silentLogger);
  return { ...engine, config };
}
