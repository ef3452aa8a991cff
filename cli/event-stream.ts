import type { Readable } from 'node:stream';

/** One Server-Sent Event (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface ServerSentEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Reads a `text/event-stream` body into events: `event:`, `data:` (joined with newlines) and
 * `id:` fields, dispatched at each blank line; comments (`: ping`) and `retry:` are skipped.
 */
export async function* serverSentEvents(body: Readable): AsyncGenerator<ServerSentEvent> {
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let id: string | undefined;
  body.setEncoding('utf8');
  for await (const chunk of body) {
    buffer += chunk as string;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n'), ...(id !== undefined ? { id } : {}) };
        event = 'message';
        data = [];
        id = undefined;
        continue;
      }
      const colon = line.indexOf(':');
      if (colon === 0) continue;
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
  }
}
