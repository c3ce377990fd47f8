/**
 * Process resource readings from Linux /proc: CPU time (utime+stime from /proc/<pid>/stat, in clock
 * ticks converted with `getconf CLK_TCK`), resident set size (VmRSS from /proc/<pid>/status), and the
 * children of a pid (by scanning /proc/<n>/stat for the parent pid; used for nginx workers).
 * A vanished process reads as 0 rather than throwing, so sampling never aborts a run.
 */
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

let clockTicks = 0;

/** Clock ticks per second (`getconf CLK_TCK`, normally 100); computed once. */
export function clkTck(): number {
  if (clockTicks === 0) {
    const out = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    const n = Number(out);
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

function statFields(pid: number): string[] | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: fields start after the last ')'. fields[0] is state (field 3).
  const close = text.lastIndexOf(')');
  return text.slice(close + 2).trim().split(' ');
}

/** CPU time (user+system) consumed so far by `pid`, in microseconds; 0 if the process is gone. */
export function cpuMicros(pid: number): number {
  const f = statFields(pid);
  if (f === null) return 0;
  const utime = Number(f[11]); // field 14
  const stime = Number(f[12]); // field 15
  return ((utime + stime) * 1e6) / clkTck();
}

/** Sum of `cpuMicros` over `pids`. */
export function cpuMicrosSum(pids: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < pids.length; i++) total += cpuMicros(pids[i]);
  return total;
}

/** Resident set size of `pid` in bytes (VmRSS); 0 if the process is gone. */
export function rssBytes(pid: number): number {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** Sum of `rssBytes` over `pids`. */
export function rssBytesSum(pids: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < pids.length; i++) total += rssBytes(pids[i]);
  return total;
}

/** Pids whose parent is `ppid` (scan of /proc/<n>/stat field 4). */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f !== null && Number(f[1]) === ppid) out.push(Number(name));
  }
  return out;
}

/**
 * Samples the summed RSS of `pids()` every `intervalMs` until `stop()`; `stop()` returns the peak in
 * bytes (including one final sample). The timer is unref'd so it never keeps the harness alive.
 */
export class RssPeakSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: () => readonly number[],
    intervalMs = 250,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const v = rssBytesSum(this.pids());
    if (v > this.peak) this.peak = v;
  }

  /** Stops sampling and returns the peak observed, in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}
