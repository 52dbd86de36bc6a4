/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and lists the functions with the most self time: the time
 * the sampler found that function itself on top of the stack. Usable on its own:
 *   node bench/lib/cpuprofile.mjs bench/results/profile-.../CPU.*.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a function comes from: a package under node_modules, a crgate package, Node itself, or native code. */
function origin(url, fn) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  const c = /packages\/([^/]+)\//.exec(url);
  if (c) return `crgate/${c[1]}`;
  if (url.startsWith('node:')) return 'node (JS)';
  if (fn.startsWith('(')) return fn;
  return 'native (syscalls, encoders)';
}

export function topSelfTime(file, limit = 15, root = process.cwd()) {
  return analyse(file, root).top.slice(0, limit);
}

/** Self time by function (top) and by origin (packages), both as shares of busy (non-idle) time. */
export function analyse(file, root = process.cwd()) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  const { samples = [], timeDeltas = [] } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample; it is charged to the sample that follows it.
    const dt = (timeDeltas[i + 1] ?? timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(samples[i]);
    if (!node) continue;
    self.set(node.id, (self.get(node.id) ?? 0) + dt);
    total += dt;
  }
  const groups = new Map();
  const origins = new Map();
  let idle = 0;
  for (const [id, ms] of self) {
    const cf = byId.get(id).callFrame;
    const fn = cf.functionName || '(anonymous)';
    if (fn === '(idle)') {
      idle += ms;
      continue;
    }
    let url = cf.url || '';
    if (url.startsWith('file://')) url = fileURLToPath(url);
    const o = origin(url, fn);
    origins.set(o, (origins.get(o) ?? 0) + ms);
    if (url.startsWith('/')) url = relative(root, url);
    const location = url ? `${url}:${cf.lineNumber + 1}` : '';
    const key = `${fn}\0${location}`;
    const g = groups.get(key) ?? { functionName: fn, location, selfMs: 0 };
    g.selfMs += ms;
    groups.set(key, g);
  }
  const busy = total - idle;
  const share = (ms) => (busy > 0 ? ms / busy : 0);
  return {
    busyMs: busy,
    top: [...groups.values()].sort((a, b) => b.selfMs - a.selfMs).map((g) => ({ ...g, share: share(g.selfMs) })),
    byOrigin: [...origins].map(([name, ms]) => ({ name, selfMs: ms, share: share(ms) })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, n] = process.argv.slice(2);
  const a = analyse(file);
  process.stdout.write(`busy ${a.busyMs.toFixed(0)} ms\n\nby function (self time):\n`);
  for (const g of a.top.slice(0, Number(n ?? 20))) {
    process.stdout.write(`${g.selfMs.toFixed(0).padStart(8)} ms  ${(g.share * 100).toFixed(1).padStart(5)}%  ${g.functionName}  ${g.location}\n`);
  }
  process.stdout.write('\nby origin (self time):\n');
  for (const g of a.byOrigin.slice(0, 25)) process.stdout.write(`${g.selfMs.toFixed(0).padStart(8)} ms  ${(g.share * 100).toFixed(1).padStart(5)}%  ${g.name}\n`);
}
