/**
 * Process helpers shared by the benchmarks (bench/macro, bench/mtls): a free loopback port, a
 * child's exit state, the bench upstream (upstream.ts next to this file, forked and waited for),
 * one verifying grpc-js Echo call through a port, and a tool's version line.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { ChildRegistry } from './children';
import { loadBenchService } from './proto';

/** A free TCP port on 127.0.0.1 (bind :0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Null while `child` runs, else 'code N' / 'signal S'. */
export function exitedWith(child: ChildProcess): string | null {
  if (child.exitCode !== null) return `code ${child.exitCode}`;
  if (child.signalCode !== null) return `signal ${child.signalCode}`;
  return null;
}

/** Forks upstream.{ts,js} next to this file (under the caller's execArgv) and waits for its port. */
export function startUpstream(children: ChildRegistry): Promise<{ child: ChildProcess; port: number }> {
  const file = path.join(__dirname, `upstream${path.extname(__filename)}`);
  const child = children.track(fork(file, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('upstream did not report a port within 15 s')), 15000);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`upstream exited (${code ?? sig}) during startup`));
    });
    child.once('message', (m: { type?: string; port?: number }) => {
      clearTimeout(timer);
      if (m.type === 'listening' && typeof m.port === 'number') resolve({ child, port: m.port });
      else reject(new Error(`unexpected upstream message ${JSON.stringify(m)}`));
    });
  });
}

/** One real grpc-js unary call with `payload` through `port`; resolves if the reply's payload_size matches. */
export function verifyEcho(port: number, payload: Buffer = Buffer.from('remora-bench')): Promise<void> {
  const Bench = loadBenchService();
  const client = new Bench(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<void>((resolve, reject) => {
    client.Echo({ payload }, { deadline: new Date(Date.now() + 5000) }, (err: grpc.ServiceError | null, reply: { payload_size: number }) => {
      client.close();
      if (err !== null) reject(new Error(`grpc-js Echo failed: ${err.code} ${err.details}`));
      else if (reply.payload_size !== payload.length) reject(new Error(`grpc-js Echo: payload_size ${reply.payload_size}, want ${payload.length}`));
      else resolve();
    });
  });
}

/** The first line of `cmd args` (e.g. `--version`), or 'not installed'. */
export function toolVersion(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0];
  } catch {
    return 'not installed';
  }
}
