/**
 * Builds the configuration from a parsed JSON file (optional) and the environment (which wins), then
 * validates it. Pure: the caller reads the file and passes `process.env`.
 */
import { configSchema, type Config } from './schema.js';
import { ENV_VARS } from './env-map.js';

export class ConfigError extends Error {
  /** One line per problem: `CRGATE_PUBLIC_URL (publicUrl): not a URL: "x"`. */
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    // A section the file gives as a single value (`lmtp: "x"`) stays as it is, for the schema to
    // refuse: a variable that sets a key inside it must not quietly replace the file's mistake.
    if (next !== undefined && (typeof next !== 'object' || next === null || Array.isArray(next))) return;
    if (next === undefined) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

function describeKey(path: string, fromEnv: Set<string>): string {
  // An issue inside a list (dns.servers.0) belongs to the variable of the list.
  const env = ENV_VARS.find((v) => v.path === path) ?? ENV_VARS.find((v) => path.startsWith(`${v.path}.`));
  if (env && fromEnv.has(env.name)) return `${env.name} (${path})`;
  return env ? `${path} (env ${env.name})` : path;
}

/**
 * @param env usually process.env
 * @param file the parsed CRGATE_CONFIG file, if any
 */
export function loadConfig(env: Record<string, string | undefined>, file?: unknown): Config {
  if (file !== undefined && (typeof file !== 'object' || file === null || Array.isArray(file))) {
    throw new ConfigError(['CRGATE_CONFIG: the file must hold a mapping of keys to values (a YAML mapping or a JSON object), not a list or a single value']);
  }
  const merged: Record<string, unknown> = structuredClone((file as Record<string, unknown>) ?? {});
  const fromEnv = new Set<string>();
  for (const v of ENV_VARS) {
    const raw = env[v.name];
    if (raw === undefined || raw === '') continue;
    fromEnv.add(v.name);
    setPath(merged, v.path, raw);
  }
  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length ? `${issue.path.join('.')}.` : '';
      return `CRGATE_CONFIG: unknown key(s) ${issue.keys.map((k) => `"${where}${k}"`).join(', ')}`;
    }
    return `${describeKey(issue.path.join('.'), fromEnv)}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}
