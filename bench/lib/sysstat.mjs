/**
 * Where the machine's CPU went during a run, from /proc (Linux only; elsewhere it returns nothing):
 * the whole machine (/proc/stat) and the processes of a few programs by name (/proc/<pid>/stat),
 * e.g. every PostgreSQL backend and the Redis server. Read-only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // 100 on every Linux this runs on
}

function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return undefined;
  }
}

/**
 * CPU ticks of every process, grouped by `classify(comm, cmdline)` (a label, or undefined to leave
 * it out), plus the processes named in `pids` ({ label: pid }), plus the machine's totals.
 */
export function snapshot(classify, pids = {}) {
  let total;
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = line[3] + (line[4] ?? 0);
    total = { all: line.reduce((a, b) => a + b, 0), idle };
  } catch {
    return undefined;
  }
  const mine = new Set(Object.values(pids).map(String));
  const byName = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || mine.has(entry)) continue;
    let comm;
    let cmdline;
    try {
      comm = readFileSync(`/proc/${entry}/comm`, 'latin1').trim();
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    const label = classify(comm, cmdline) ?? 'other processes';
    const t = cpuTicks(entry);
    if (t === undefined) continue;
    byName[label] ??= new Map();
    byName[label].set(entry, t);
  }
  const own = Object.fromEntries(Object.entries(pids).map(([label, pid]) => [label, cpuTicks(pid) ?? 0]));
  return { at: performance.now(), total, byName, own };
}

/** CPU used between two snapshots, in percent of one core, by name; and the machine's busy share. */
export function diff(a, b) {
  if (!a || !b) return undefined;
  const seconds = (b.at - a.at) / 1000;
  const pct = (ticks) => (ticks / clkTck / seconds) * 100;
  const out = { machineBusyPct: 0, byName: {} };
  const all = b.total.all - a.total.all;
  out.machineBusyPct = all > 0 ? (1 - (b.total.idle - a.total.idle) / all) * 100 : 0;
  for (const [name, after] of Object.entries(b.byName)) {
    let ticks = 0;
    for (const [pid, t] of after) ticks += t - (a.byName[name]?.get(pid) ?? 0);
    out.byName[name] = pct(ticks);
  }
  for (const [label, t] of Object.entries(b.own)) out.byName[label] = pct(t - (a.own[label] ?? 0));
  // Everything the machine did that no process alive at the end accounts for: processes that came
  // and went during the run (someone's build or test), and the kernel's own work.
  out.cores = os.cpus().length;
  out.machineBusyCorePct = (out.machineBusyPct * out.cores);
  const known = Object.entries(out.byName).filter(([k]) => k !== 'other processes').reduce((s2, [, v]) => s2 + v, 0);
  out.byName['other processes'] = Math.max(out.byName['other processes'] ?? 0, out.machineBusyCorePct - known);
  return out;
}
