import { WaymarkError } from '../topology/index.js';

/** Errors of the registry's operations and admin API (beyond the store's and the manifests'). */

export class NotFoundError extends WaymarkError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

export class BadRequestError extends WaymarkError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
  }
}

export class UnauthorizedError extends WaymarkError {
  constructor(message: string) {
    super('UNAUTHORIZED', message);
  }
}

export class ForbiddenError extends WaymarkError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

export class PayloadTooLargeError extends WaymarkError {
  constructor(limitBytes: number) {
    super('PAYLOAD_TOO_LARGE', `the request body is over the limit of ${limitBytes} bytes: split the apply, or raise the registry's --max-body-bytes`);
  }
}

/** Every environment monitor slot is taken by one with viewers (see RegistryOptions.maxMonitors). */
export class TooManyMonitorsError extends WaymarkError {
  constructor(max: number) {
    super(
      'TOO_MANY_MONITORS',
      `the registry already watches ${max} environments for dashboards and waymark watch, each with viewers: retry when one closes, or raise --max-monitors`,
    );
  }
}

export class UnsupportedMediaTypeError extends WaymarkError {
  constructor(type: string | undefined, accepted: readonly string[]) {
    super(
      'UNSUPPORTED_MEDIA_TYPE',
      `content type ${type ? JSON.stringify(type) : '(none)'} is not accepted here: send ${accepted.join(' or ')}`,
    );
  }
}

/**
 * The registry was about to write a record the core validators reject, which its own checks
 * should have prevented: a bug. Nothing is written; the apply answers 500 with this code.
 */
export class InvalidRecordError extends WaymarkError {
  constructor(
    readonly key: string,
    readonly problems: readonly string[],
  ) {
    super('INVALID_RECORD', `the registry refused to write ${key}, which every reader would reject (${problems.slice(0, 3).join('; ')}): nothing was written; this is a bug, please report it`);
  }
}
