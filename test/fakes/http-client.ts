/**
 * Minimal HTTP/1.1 client for tests, on node:http so the Host header, keep-alive agents and raw
 * header lists are fully under the test's control (fetch forbids several of them). By default each
 * request uses its own connection (`agent: false`), so nothing lingers after a test.
 */
import * as http from 'node:http';

export interface HttpRequestOptions {
  readonly method?: string;
  readonly path?: string;
  /** Header object, or a flat [name, value, name, value, ...] list to send duplicates in order. */
  readonly headers?: http.OutgoingHttpHeaders | string[];
  readonly body?: string | Buffer | null;
  /** A keep-alive agent to reuse connections; default false (one connection per request). */
  readonly agent?: http.Agent | false;
  /** Abort (reject) after this long; default 5000 ms. */
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body parsed as JSON, or null if it is not JSON. */
  json<T = any>(): T;
  text(): string;
}

/** Sends one request to `base` (`http://127.0.0.1:port` or a port number) and buffers the response. */
export function httpRequest(base: string | number, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const url = new URL(typeof base === 'number' ? `http://127.0.0.1:${base}` : base);
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method: options.method ?? 'GET',
      path: options.path ?? (url.pathname + url.search),
      headers: options.headers as http.OutgoingHttpHeaders,
      agent: options.agent ?? false,
      setHost: !(hasHost(options.headers)),
    });
    const timer = setTimeout(() => req.destroy(new Error(`request timed out after ${options.timeoutMs ?? 5000} ms`)), options.timeoutMs ?? 5000);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => { clearTimeout(timer); reject(err); });
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json() { return JSON.parse(body.toString('utf8')); },
          text() { return body.toString('utf8'); },
        });
      });
    });
    if (options.body !== undefined && options.body !== null) req.end(options.body);
    else req.end();
  });
}

function hasHost(headers: HttpRequestOptions['headers']): boolean {
  if (headers === undefined) return false;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'host') return true;
    return false;
  }
  return Object.keys(headers).some((k) => k.toLowerCase() === 'host');
}
