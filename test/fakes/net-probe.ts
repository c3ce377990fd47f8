/**
 * Connection probes: whether a TCP port currently accepts connections, used to observe that a
 * draining listener stops accepting without sleeping.
 */
import * as net from 'node:net';

/** Resolves 'accepted' if a TCP connection to 127.0.0.1:port opens, else the error code (e.g. 'ECONNREFUSED'). */
export function probeConnect(port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { socket.destroy(); resolve('ETIMEDOUT'); }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve('accepted'); });
    socket.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(err.code ?? 'error'); });
  });
}
