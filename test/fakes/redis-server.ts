/**
 * A real Redis for integration tests: runs the `redis-server` binary (Debian package `redis-server`)
 * on a free loopback port with persistence off (`--save '' --appendonly no`), waits until it answers
 * PING, and stops it (SIGTERM, then SIGKILL). `kill()` + `resume()` (or `restart()`) stop and start
 * the same port, so tests can take Redis away mid-run and bring it back. Like the etcd fake, the
 * server runs under a small `sh` watchdog that kills it when our end of its stdin pipe closes, so a
 * killed test process does not leak redis-server. `findRedisBinary()` lets a test skip cleanly.
 */
import * as net from 'node:net';
import { freePort } from './ports';
import { findBinary, SupervisedProcess } from './supervised-process';

/** The skip reason tests print when the binary is missing. */
export const REDIS_MISSING = 'redis-server not found on PATH or /usr/bin (Debian/Ubuntu: apt-get install redis-server)';

/** The absolute path of `redis-server` ($REDIS_SERVER_BIN, PATH, then /usr/bin), or null. */
export function findRedisBinary(): string | null {
  return findBinary('redis-server', 'REDIS_SERVER_BIN', ['/usr/bin', '/usr/sbin']);
}

/** Sends one inline command and resolves with the first reply line (e.g. `+PONG`). */
export function redisCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`redis ${command}: no reply in ${timeoutMs} ms`)); }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(command + '\r\n'));
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(buf.slice(0, nl));
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** One running redis-server. Create with `RedisServer.start()`; always `stop()` in `after()`. */
export class RedisServer {
  private readonly proc: SupervisedProcess;

  private constructor(binary: string, readonly port: number) {
    this.proc = new SupervisedProcess('redis-server', binary);
  }

  /** Spawns redis-server on a free port and resolves once it answers PING. */
  static async start(): Promise<RedisServer> {
    const binary = findRedisBinary();
    if (binary === null) throw new Error(REDIS_MISSING);
    const server = new RedisServer(binary, await freePort());
    try {
      await server.spawn();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** `127.0.0.1:<port>`, the filter's `redis.address`. */
  get address(): string { return `127.0.0.1:${this.port}`; }

  get running(): boolean { return this.proc.running; }

  /** Stops the process (the port is reused by `resume()`). Idempotent. */
  async kill(): Promise<void> {
    await this.proc.kill();
  }

  /** Starts a killed server again on the same port (empty: no persistence). */
  async resume(): Promise<void> {
    if (this.proc.running) return;
    await this.spawn();
  }

  /** `kill()` then `resume()`. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Stops the server for good. Idempotent. */
  async stop(): Promise<void> {
    await this.kill();
  }

  /** FLUSHALL (between test cases). */
  async flushAll(): Promise<void> {
    const reply = await redisCommand(this.port, 'FLUSHALL');
    if (reply !== '+OK') throw new Error(`FLUSHALL: ${reply}`);
  }

  private spawn(): Promise<void> {
    return this.proc.start([
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--protected-mode', 'no',
      '--daemonize', 'no',
    ], {
      check: async () => (await redisCommand(this.port, 'PING', 500)) === '+PONG',
      timeoutMs: 10_000, intervalMs: 20, what: `redis-server PONG on 127.0.0.1:${this.port}`,
    });
  }
}

/**
 * A TCP server that accepts connections and never answers (a hung Redis), for timeout tests.
 * `close()` destroys every accepted socket.
 */
export class SilentTcpServer {
  private readonly sockets = new Set<net.Socket>();
  private constructor(private readonly server: net.Server, readonly port: number) {
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('error', () => { /* reset by the client */ });
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(): Promise<SilentTcpServer> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new SilentTcpServer(server, (server.address() as net.AddressInfo).port);
  }

  get address(): string { return `127.0.0.1:${this.port}`; }

  /** Connections accepted and still open. */
  get openConnections(): number { return this.sockets.size; }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
