/**
 * Starts one Remora sidecar of the mTLS pair from a given bootstrap text — the macro bench's
 * `startRemora` renders its own single-sidecar bootstrap, so this writes ours and launches the same
 * command line (`node <cli> sidecar --bootstrap <file> --admin-address-path <file>`, output to
 * `<dir>/remora.log`, NODE_PATH at the repo's node_modules so a private `--remora-bin` build
 * resolves its packages). Readiness, CLI resolution and log tails are the macro bench's
 * (`waitRemoraReady`, `resolveRemoraCommand`, `RemoraProcess`).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildRegistry } from '../macro/children';
import { RemoraProcess, type RemoraCommand } from '../macro/remora';

/** Extra Node flags for both sidecars (`REMORA_BENCH_NODE_ARGS`, space-separated; e.g. GC sizing experiments). */
function nodeArgs(): string[] {
  return (process.env.REMORA_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}

/**
 * Writes `bootstrapYaml` to `<dir>/bootstrap.yaml` (creating `dir`) and starts the sidecar tracked by
 * `children`. Returns at once; wait with `waitRemoraReady`.
 */
export function startSidecar(children: ChildRegistry, cmd: RemoraCommand, root: string, dir: string, bootstrapYaml: string): RemoraProcess {
  fs.mkdirSync(dir, { recursive: true });
  const bootstrap = path.join(dir, 'bootstrap.yaml');
  const adminFile = path.join(dir, 'admin-address');
  const logFile = path.join(dir, 'remora.log');
  fs.writeFileSync(bootstrap, bootstrapYaml);
  fs.rmSync(adminFile, { force: true });
  const fd = fs.openSync(logFile, 'w');
  const nodePath = [path.join(root, 'node_modules'), process.env.NODE_PATH].filter((p) => p).join(path.delimiter);
  const child = children.track(
    spawn(process.execPath, [...nodeArgs(), cmd.script, ...cmd.scriptArgs, 'sidecar', '--bootstrap', bootstrap, '--admin-address-path', adminFile], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, NODE_PATH: nodePath },
    }),
  );
  fs.closeSync(fd);
  return new RemoraProcess(child, logFile, adminFile);
}
