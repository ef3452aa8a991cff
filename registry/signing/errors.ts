import { WaymarkError } from '../../topology/index.js';

/** The registry cannot sign: it runs without a key directory, or its key file is unreadable. */
export class SigningUnavailableError extends WaymarkError {
  constructor(message: string) {
    super('SIGNING_UNAVAILABLE', message);
  }
}

/**
 * The environment is signed with a key this registry does not hold (another registry created or
 * rotated it): it refuses to write an unsigned or wrongly signed topology.
 */
export class SigningKeyMissingError extends WaymarkError {
  constructor(env: string, kid: string) {
    super(
      'SIGNING_KEY_MISSING',
      `environment ${env} is signed with key ${kid}, which this registry's key directory does not hold: give every registry the same key directory, then apply again`,
    );
  }
}
