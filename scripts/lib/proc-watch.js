'use strict';
/**
 * Watches a process tree through /proc (Linux): every descendant's peak RSS (VmHWM) and CPU
 * time (utime + stime), last seen before it exited, polled every `ms`. For the benchmarks that
 * start `overmap run` or a Python script and need figures per worker process.
 */
const fs = require('node:fs');

const TICK = 100; // USER_HZ on Linux

function readStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICK };
  } catch {
    return null;
  }
}

function readHwmMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Starts polling the tree under `root`; stop() returns [{pid, cmd, peakRssMiB, cpuSeconds}]. */
function watchTree(root, ms = 100) {
  const seen = new Map();
  const poll = () => {
    const parent = new Map();
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const st = readStat(d);
      if (st) parent.set(Number(d), st);
    }
    const inTree = (pid) => {
      for (let p = pid, n = 0; p > 1 && n < 32; p = parent.get(p)?.ppid ?? 0, n++) if (p === root) return true;
      return false;
    };
    for (const [pid, st] of parent) {
      if (!inTree(pid)) continue;
      const prev = seen.get(pid) ?? { pid, cmd: cmdline(pid), peakRssMiB: 0, cpuSeconds: 0 };
      prev.peakRssMiB = Math.max(prev.peakRssMiB, readHwmMiB(pid));
      prev.cpuSeconds = Math.max(prev.cpuSeconds, st.cpu);
      seen.set(pid, prev);
    }
  };
  poll();
  const timer = setInterval(poll, ms);
  return {
    stop() {
      clearInterval(timer);
      return [...seen.values()];
    },
  };
}

module.exports = { watchTree };
