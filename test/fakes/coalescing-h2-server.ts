/**
 * An HTTP/2 server written at the frame level (RFC 9113), for tests that need frames to arrive
 * together: it answers each request with ONE socket write that holds the response HEADERS, a DATA
 * frame and, optionally, the trailers HEADERS, so the client reads them in a single read. node:http2
 * servers decide their own write boundaries. It speaks just enough of the protocol for a node:http2
 * client: the server preface, SETTINGS acknowledgements, PING replies; it never decodes request
 * headers (it answers every stream once the request has ended). Header blocks are encoded as HPACK
 * literals without indexing (RFC 7541 §6.2.2), `:status 200` as static index 8.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;

export interface CoalescedResponse {
  /** Response headers besides `:status 200`, lowercase names. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
  /** Trailers sent in the same write, or null to end the stream on the DATA frame. */
  readonly trailers: readonly (readonly [string, string])[] | null;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function literal(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  if (b.length > 126) throw new Error('header too long for this fake');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

function headerBlock(status: boolean, fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = status ? [Buffer.from([0x88])] : [];
  for (const [name, value] of fields) parts.push(Buffer.from([0x00]), literal(name), literal(value));
  return Buffer.concat(parts);
}

/** The server; `port` after `start()`. Each connection is handled independently. */
export class CoalescingH2Server {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly response: CoalescedResponse, tlsOptions: { cert: Buffer | string; key: Buffer | string } | null) {
    this.server = tlsOptions === null
      ? net.createServer((socket) => this.onConnection(socket))
      : tls.createServer({ ...tlsOptions, ALPNProtocols: ['h2'] }, (socket) => this.onConnection(socket));
  }

  /** Listens on 127.0.0.1 (port 0): h2c, or h2 over TLS (ALPN h2) with `tlsOptions`. */
  static async start(response: CoalescedResponse, tlsOptions: { cert: Buffer | string; key: Buffer | string } | null = null): Promise<CoalescingH2Server> {
    const s = new CoalescingH2Server(response, tlsOptions);
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    socket.write(frame(SETTINGS, 0, 0, Buffer.alloc(0)));
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!prefaceSeen) {
        if (buf.length < PREFACE.length) return;
        if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) {
          socket.destroy();
          return;
        }
        prefaceSeen = true;
        buf = buf.subarray(PREFACE.length);
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const streamId = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        this.onFrame(socket, type, flags, streamId, payload);
      }
    });
  }

  private onFrame(socket: net.Socket, type: number, flags: number, streamId: number, payload: Buffer): void {
    if (type === SETTINGS && (flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
    else if (type === PING && (flags & ACK) === 0) socket.write(frame(PING, ACK, 0, payload));
    else if (type === GOAWAY) socket.end();
    else if ((type === HEADERS || type === DATA) && streamId !== 0 && (flags & END_STREAM) !== 0) this.answer(socket, streamId);
  }

  private answer(socket: net.Socket, streamId: number): void {
    const r = this.response;
    const frames = [
      frame(HEADERS, END_HEADERS, streamId, headerBlock(true, r.headers)),
      frame(DATA, r.trailers === null ? END_STREAM : 0, streamId, Buffer.from(r.body)),
    ];
    if (r.trailers !== null) frames.push(frame(HEADERS, END_HEADERS | END_STREAM, streamId, headerBlock(false, r.trailers)));
    // One TCP write; over TLS one record per frame (the reader decrypts them in one read).
    socket.cork();
    for (const f of frames) socket.write(f);
    socket.uncork();
  }
}
