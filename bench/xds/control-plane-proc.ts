/**
 * The control plane under test, run in its own process by `bench/xds/run.ts` (forked with an IPC
 * channel): `ControlPlane.start` on 127.0.0.1 with ephemeral xDS and admin ports, watching the
 * mesh file given by `--config`. It reports over IPC:
 *   {type:'ready', xdsPort, adminPort, pid}            once serving;
 *   {type:'accepted'|'rejected', generation, at}       when a config change was applied/rejected,
 *     `at` = wall-clock ms (performance.timeOrigin + performance.now()) of the log line, which the
 *     control plane writes right before `ads.notify()` starts the push;
 *   {type:'error', message}                            when start fails (then exits 1).
 * It stops on the IPC message {type:'stop'}, on SIGTERM, or when the parent goes away.
 * Usage (normally via run.ts): node --import tsx bench/xds/control-plane-proc.ts --config f [--debounce-ms 10] [--push-batch N]
 */
import { Writable } from 'node:stream';
import { createRuntime } from '../../src/core/runtime';
import { ControlPlane } from '../../src/control-plane/control-plane';
import { arg } from '../argv';

function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function send(msg: unknown): void {
  if (process.send !== undefined && process.connected) process.send(msg);
}

/** Pino destination that turns the control plane's reload log lines into IPC events. */
class LogTap extends Writable {
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const at = wallNow();
    const text = chunk.toString();
    if (text.includes('mesh config accepted') || text.includes('mesh config change rejected')) {
      for (const line of text.split('\n')) {
        if (line === '') continue;
        try {
          const rec = JSON.parse(line) as { msg?: string; generation?: number; errors?: unknown };
          if (rec.msg === 'mesh config accepted') send({ type: 'accepted', generation: rec.generation ?? 0, at });
          else if (rec.msg?.startsWith('mesh config change rejected') === true) send({ type: 'rejected', at, errors: rec.errors });
        } catch {
          // not JSON: ignore
        }
      }
    }
    if (/"level":(40|50|60)/.test(text)) process.stderr.write(text);
    cb();
  }
}

async function main(): Promise<void> {
  const configPath = arg('--config', '');
  if (configPath === '') throw new Error('--config is required');
  const debounceMs = Number(arg('--debounce-ms', '10'));
  const pushBatch = arg('--push-batch', '');
  const runtime = createRuntime({ logLevel: 'info', logDestination: new LogTap() });
  const cp = await ControlPlane.start({ configPath, runtime, xdsPort: 0, adminPort: 0, host: '127.0.0.1', debounceMs, ...(pushBatch === '' ? {} : { pushBatchSize: Number(pushBatch) }) });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const hard = setTimeout(() => process.exit(0), 3000);
    hard.unref();
    cp.stop().finally(() => process.exit(0));
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') stop();
  });
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  send({ type: 'ready', xdsPort: cp.xdsPort, adminPort: cp.adminPort, pid: process.pid });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.stderr.write(`control-plane-proc: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
