/**
 * One HTTP scrape of a sidecar admin server's `/stats/prometheus`, asking for the classic text
 * format, with a deadline and a body size cap (a misbehaving target cannot hold the dashboard's
 * memory or its scrape loop). Resolves with the body or rejects with a short, displayable reason.
 */
import * as http from 'node:http';

export interface ScrapeOptions {
  readonly timeoutMs: number;
  /** Largest accepted body in bytes. */
  readonly maxBytes: number;
}

/** `host:port` (IPv6 hosts in brackets) → host and port; null when malformed. */
export function splitHostPort(address: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(address.trim());
  if (m === null) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] ?? m[2]!, port };
}

/** GETs `http://<address>/stats/prometheus`. Rejects on non-200, timeout, oversize or socket error. */
export function scrapeAdmin(address: string, options: ScrapeOptions): Promise<string> {
  const hp = splitHostPort(address);
  if (hp === null) return Promise.reject(new Error(`bad admin address '${address}'`));
  return new Promise<string>((resolve, reject) => {
    const req = http.get({
      host: hp.host,
      port: hp.port,
      path: '/stats/prometheus',
      headers: { accept: 'text/plain;version=0.0.4' },
      timeout: options.timeoutMs,
      agent: false,
    }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > options.maxBytes) {
          req.destroy(new Error(`body over ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${options.timeoutMs} ms`)));
    req.on('error', reject);
  });
}
