/**
 * Runs the sidecar as a child process through its CLI, for process-level tests (signals, exit codes,
 * stderr). Compiled tests run `node bin/remora.js` (which needs `npm run build`); tests run from
 * sources with tsx run `src/cli/main.ts` through tsx instead, so they test the code on disk.
 * `start()` waits for the `--admin-address-path` file and for /ready; `stop()` kills and cleans up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { httpRequest } from './http-client';
import { repoPath, runningFromSource } from './paths';
import { waitFor, withTimeout } from './wait';
import { writeTempBootstrap } from './bootstrap';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** argv prefix that runs the CLI (`node <entry>`), see the file comment. */
function cliCommand(): string[] {
  if (runningFromSource()) {
    const main = repoPath('src', 'cli', 'main.ts');
    return ['--import', 'tsx', '-e', `require(${JSON.stringify(main)}).main(process.argv.slice(1))`];
  }
  return [repoPath('bin', 'remora.js')];
}

/** Spawns `remora <args>` with stdout/stderr captured. */
export function spawnCli(args: string[]): { child: ChildProcess; output: { stdout: string; stderr: string }; exited: Promise<ExitInfo> } {
  const child = spawn(process.execPath, [...cliCommand(), ...args], { cwd: repoPath(), stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { output.stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output.stderr += d; });
  const exited = new Promise<ExitInfo>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output, exited };
}

/** Runs `remora <args>` to completion (killed after timeoutMs). */
export async function runCli(args: string[], timeoutMs = 20000): Promise<ExitInfo & { stdout: string; stderr: string }> {
  const { child, output, exited } = spawnCli(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const info = await exited;
  clearTimeout(timer);
  // Let the pipes flush.
  await new Promise<void>((resolve) => setImmediate(resolve));
  return { ...info, stdout: output.stdout, stderr: output.stderr };
}

export class SidecarProcess {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<ExitInfo>;
  readonly adminUrl: string;
  private readonly cleanupDir: () => void;
  private exitInfo: ExitInfo | null = null;

  private constructor(spawned: ReturnType<typeof spawnCli>, adminUrl: string, cleanupDir: () => void) {
    this.child = spawned.child;
    this.output = spawned.output;
    this.exited = spawned.exited;
    this.exited.then((e) => { this.exitInfo = e; });
    this.adminUrl = adminUrl;
    this.cleanupDir = cleanupDir;
  }

  /** Spawns `remora sidecar --bootstrap <tmp> --admin-address-path <tmp> [--drain-time ...]` and waits for /ready. */
  static async start(yaml: string, opts: { drainTime?: string; startTimeoutMs?: number; extraArgs?: readonly string[] } = {}): Promise<SidecarProcess> {
    const file = writeTempBootstrap(yaml);
    const addrFile = path.join(file.dir, 'admin-address');
    const args = ['sidecar', '--bootstrap', file.path, '--admin-address-path', addrFile];
    if (opts.drainTime !== undefined) args.push('--drain-time', opts.drainTime);
    if (opts.extraArgs !== undefined) args.push(...opts.extraArgs);
    const spawned = spawnCli(args);
    let exited: ExitInfo | null = null;
    spawned.exited.then((e) => { exited = e; });
    const timeoutMs = opts.startTimeoutMs ?? 15000;
    try {
      const hostPort = await waitFor(() => {
        if (exited !== null) throw new Error(`sidecar exited early (${JSON.stringify(exited)}): ${spawned.output.stderr}`);
        if (!fs.existsSync(addrFile)) return null;
        const text = fs.readFileSync(addrFile, 'utf8').trim();
        return /^[^:]+:\d+$/.test(text) ? text : null;
      }, { timeoutMs, intervalMs: 25, what: 'the admin address file' });
      const adminUrl = `http://${hostPort}`;
      await waitFor(async () => {
        if (exited !== null) throw new Error(`sidecar exited early: ${spawned.output.stderr}`);
        return (await httpRequest(adminUrl, { path: '/ready' })).status === 200;
      }, { timeoutMs, intervalMs: 25, what: '/ready → 200' });
      return new SidecarProcess(spawned, adminUrl, file.cleanup);
    } catch (err) {
      spawned.child.kill('SIGKILL');
      await spawned.exited;
      file.cleanup();
      throw new Error(`${(err as Error).message}\nstderr:\n${spawned.output.stderr}`);
    }
  }

  /** Port of listener `name`, from GET /listeners?format=json. */
  async listenerPort(name: string): Promise<number> {
    const res = await httpRequest(this.adminUrl, { path: '/listeners?format=json' });
    const list = res.json<Array<{ name: string; local_address: { socket_address: { port_value: number } } }>>();
    const l = list.find((x) => x.name === name);
    if (l === undefined) throw new Error(`no listener ${name} in ${res.text()}`);
    return l.local_address.socket_address.port_value;
  }

  /** Sends a signal. */
  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** Waits for exit (bounded). */
  waitExit(timeoutMs = 15000): Promise<ExitInfo> {
    return withTimeout(this.exited, timeoutMs, 'sidecar process exit');
  }

  /** Kills the process if still running and removes temp files. */
  async stop(): Promise<void> {
    if (this.exitInfo === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    this.cleanupDir();
  }
}
