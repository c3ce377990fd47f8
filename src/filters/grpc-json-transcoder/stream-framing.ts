/**
 * The three response framings of a transcoded server-streaming call, chosen per request: a JSON
 * array (`[m1,m2]`, `[]` for no message; Envoy's default), NDJSON (one message per line; `Accept:
 * application/x-ndjson` or `print_options.stream_newline_delimited`) and Server-Sent Events (`data:
 * m\n\n`; `Accept: text/event-stream` or `stream_sse_style_delimited`). A mid-stream error ends the
 * framing cleanly: the array is closed (the status travels in the HTTP/2 trailers), NDJSON gets a
 * last line `{"error":<google.rpc.Status>}` and SSE a last `event: error` carrying the Status. JSON
 * printed with `add_whitespace` contains raw newlines only as whitespace (string contents are
 * escaped), so NDJSON folds them into spaces and SSE prefixes every line with `data: `.
 */

export const enum StreamFraming { JsonArray = 0, Ndjson = 1, Sse = 2 }

export const CONTENT_TYPE_JSON = 'application/json';
export const CONTENT_TYPE_NDJSON = 'application/x-ndjson';
export const CONTENT_TYPE_SSE = 'text/event-stream';

/** The response content-type of a framing. */
export function framingContentType(f: StreamFraming): string {
  return f === StreamFraming.Ndjson ? CONTENT_TYPE_NDJSON : f === StreamFraming.Sse ? CONTENT_TYPE_SSE : CONTENT_TYPE_JSON;
}

/**
 * The framing a request asks for with its `Accept` header (NDJSON or SSE named explicitly), else
 * `fallback` (the configured default). Cheap: two substring checks on one header.
 */
export function framingForAccept(accept: string | string[] | undefined, fallback: StreamFraming): StreamFraming {
  if (accept === undefined) return fallback;
  const a = typeof accept === 'string' ? accept : accept.join(',');
  if (a.includes(CONTENT_TYPE_SSE)) return StreamFraming.Sse;
  if (a.includes(CONTENT_TYPE_NDJSON)) return StreamFraming.Ndjson;
  return fallback;
}

function foldNewlines(json: string): string {
  return json.indexOf('\n') < 0 ? json : json.replace(/\r?\n\s*/g, ' ');
}

function sseData(json: string): string {
  return 'data: ' + (json.indexOf('\n') < 0 ? json : json.replace(/\r?\n/g, '\ndata: ')) + '\n\n';
}

/** Text that opens the response body (sent with the first message, or alone for an empty stream). */
export function framingOpen(f: StreamFraming): string {
  return f === StreamFraming.JsonArray ? '[' : '';
}

/** One message (`json`: its ProtoJSON text); `first` tells whether it is the first of the stream. */
export function framingMessage(f: StreamFraming, json: string, first: boolean): string {
  switch (f) {
    case StreamFraming.JsonArray: return first ? json : ',' + json;
    case StreamFraming.Ndjson: return foldNewlines(json) + '\n';
    case StreamFraming.Sse: return sseData(json);
  }
}

/**
 * Text that closes the body. `errorStatusJson` is the google.rpc.Status JSON of a failed stream
 * (null when it ended OK): NDJSON and SSE carry it as a final event; the array is just closed.
 */
export function framingClose(f: StreamFraming, errorStatusJson: string | null): string {
  switch (f) {
    case StreamFraming.JsonArray: return ']';
    case StreamFraming.Ndjson: return errorStatusJson === null ? '' : '{"error":' + foldNewlines(errorStatusJson) + '}\n';
    case StreamFraming.Sse: return errorStatusJson === null ? '' : 'event: error\n' + sseData(errorStatusJson);
  }
}
