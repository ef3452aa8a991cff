import type { IncomingMessage } from 'node:http';
import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.js';

export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'] as const;
export const JSON_TYPES = ['application/json'] as const;

export interface RequestBody {
  /** `json` or `yaml`, from the content type. */
  format: 'json' | 'yaml';
  text: string;
}

/**
 * Reads a request body as UTF-8 text: 415 unless its content type is one of `accept`'s formats,
 * 413 as soon as it passes `limitBytes` (announced or streamed), without buffering more.
 */
export async function readBody(req: IncomingMessage, limitBytes: number, accept: ReadonlyArray<'json' | 'yaml'>): Promise<RequestBody> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
  const format = (JSON_TYPES as readonly string[]).includes(type) || type.endsWith('+json')
    ? 'json'
    : (YAML_TYPES as readonly string[]).includes(type)
      ? 'yaml'
      : undefined;
  if (!format || !accept.includes(format)) {
    const names = accept.flatMap((f) => (f === 'json' ? JSON_TYPES : YAML_TYPES.slice(0, 1)));
    throw new UnsupportedMediaTypeError(type || undefined, names);
  }
  const announced = Number(req.headers['content-length']);
  if (Number.isFinite(announced) && announced > limitBytes) {
    req.resume();
    throw new PayloadTooLargeError(limitBytes);
  }
  const text = await new Promise<string>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limitBytes) {
        parts.push(chunk);
        return;
      }
      // Drain the rest without keeping it, so the 413 can still be sent on this connection.
      cleanup();
      req.resume();
      reject(new PayloadTooLargeError(limitBytes));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(parts).toString('utf8'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
  return { format, text };
}
