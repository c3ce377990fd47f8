/**
 * An `http.Server` bound to one address and closed for good: the listen/close mechanics the admin
 * and health servers share. `listen()` resolves with the bound address (rejects when the port is
 * taken); `close()` stops listening and closes open connections, and is a no-op when not listening.
 */
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SocketAddressModel } from '../../config/model';

export class BoundHttpServer {
  private bound: AddressInfo | null = null;

  constructor(private readonly server: http.Server) {}

  listen(address: SocketAddressModel): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(address.port, address.host, () => {
        this.server.off('error', reject);
        this.bound = this.server.address() as AddressInfo;
        resolve(this.bound);
      });
    });
  }

  /** The bound address; null before `listen()` resolved. */
  address(): AddressInfo | null { return this.bound; }

  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
