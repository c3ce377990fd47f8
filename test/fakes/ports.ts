/**
 * A free TCP port on 127.0.0.1, for the rare configs that must name a port before the server that
 * will use it exists (mesh YAML naming sidecar inbound ports, etcd's peer URL). Bind-and-release, so
 * another process could take it in between; everything else in the tests binds port 0 directly.
 */
import * as net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
