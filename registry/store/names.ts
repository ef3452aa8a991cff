import { WaymarkError } from '../../client-sdk/errors.js';

/** DNS label (RFC 1123): the same rule as `#/components/schemas/Name` in the contract. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class InvalidNameError extends WaymarkError {
  constructor(
    readonly what: string,
    readonly value: unknown,
  ) {
    super(
      'INVALID_NAME',
      `${what} ${JSON.stringify(value)} is not a valid name: use 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit`,
    );
  }
}

export function isValidName(value: unknown): value is string {
  return typeof value === 'string' && DNS_LABEL.test(value);
}

/** Throws InvalidNameError unless `value` is a DNS label, so no name can escape its key prefix. */
export function assertName(what: string, value: unknown): asserts value is string {
  if (!isValidName(value)) throw new InvalidNameError(what, value);
}
