import type { IncomingMessage } from 'node:http';
import { bodyTimeout, payloadTooLarge, type GatewayHttpError } from './errors.js';

/** How request bodies are read: see the options of the same names in options.ts. */
export interface BodyLimits {
  maxBodyBytes: number;
  bodyBufferBytes: number;
  bodyTimeoutMs: number;
  bodyMinBytesPerSecond: number;
}

/** What was read of a body before any upstream socket is taken. */
export type BodyStart =
  /** All of it (maybe empty): forwarded with a Content-Length of its size, and replayable. */
  | { complete: true; bytes: Buffer }
  /** Its first `bodyBufferBytes` or more; the rest streams from the request. */
  | { complete: false; head: Buffer };

/** How reading a body ended other than with bytes: an error to answer, or a client that left. */
export type BodyFailure = { error: GatewayHttpError } | { gone: true };

/**
 * Reads a body up to `bodyBufferBytes`, within `bodyTimeoutMs`, before the proxy takes an upstream
 * socket: a client that trickles its body holds only its own connection, never an upstream one,
 * and gets 408. Resolves with what was read (the request is left paused past it).
 */
export function readBodyStart(req: IncomingMessage, limits: BodyLimits): Promise<BodyStart | BodyFailure> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (outcome: BodyStart | BodyFailure) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(outcome);
    };
    const timer = setTimeout(
      () =>
        finish({
          error: bodyTimeout(`the request body did not arrive within ${limits.bodyTimeoutMs} ms (${size} bytes received): send it without pauses`),
        }),
      limits.bodyTimeoutMs,
    );
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limits.maxBodyBytes) return finish({ error: payloadTooLarge(limits.maxBodyBytes) });
      if (size >= limits.bodyBufferBytes) {
        req.pause();
        finish({ complete: false, head: Buffer.concat(chunks) });
      }
    };
    const onEnd = () => finish({ complete: true, bytes: Buffer.concat(chunks) });
    const onClose = () => finish({ gone: true });
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
}

/**
 * Watches the rest of a streamed body: it must bring `bodyMinBytesPerSecond` over every window of
 * `bodyTimeoutMs`, or `onSlow` is called. A window in which the upstream did not take the bytes
 * (the request was paused by backpressure) does not count against the client. Returns the stop.
 */
export function watchBodyRate(req: IncomingMessage, limits: BodyLimits, onSlow: (error: GatewayHttpError) => void): () => void {
  const floor = (limits.bodyMinBytesPerSecond * limits.bodyTimeoutMs) / 1000;
  let received = 0;
  let heldBack = false;
  const onData = (chunk: Buffer) => {
    received += chunk.length;
  };
  const onPause = () => {
    heldBack = true;
  };
  const timer = setInterval(() => {
    const slow = !heldBack && !req.isPaused() && received < floor;
    received = 0;
    heldBack = req.isPaused();
    if (slow) {
      stop();
      onSlow(bodyTimeout(`the request body arrived slower than ${limits.bodyMinBytesPerSecond} bytes/s over ${limits.bodyTimeoutMs} ms: upload faster`));
    }
  }, limits.bodyTimeoutMs);
  const stop = () => {
    clearInterval(timer);
    req.off('data', onData);
    req.off('pause', onPause);
    req.off('end', stop);
    req.off('close', stop);
  };
  req.on('data', onData);
  req.on('pause', onPause);
  req.once('end', stop);
  req.once('close', stop);
  return stop;
}
