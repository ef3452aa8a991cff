/**
 * Error classes of Waymark. Every error has a stable `code` (for programs) and a message that
 * says what happened and what to do (for people). Server-side errors extend the same base, so
 * one `instanceof WaymarkError` check covers them all.
 */
export class WaymarkError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
