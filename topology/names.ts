import { WaymarkError } from './error.js';

/** DNS label (RFC 1123): the same rule as `#/components/schemas/Name` in the contract. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A jurisdiction such as `EU` or `US-CA`: the same rule as `#/components/schemas/Jurisdiction`. */
export const JURISDICTION_PATTERN = /^[A-Z][A-Z0-9-]{0,31}$/;

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

/** Names of environments, regions, services and gateways are DNS labels, so none can escape its key prefix. */
export function isValidName(value: unknown): value is string {
  return typeof value === 'string' && NAME_PATTERN.test(value);
}

/** Throws InvalidNameError unless `value` is a DNS label. */
export function assertName(what: string, value: unknown): asserts value is string {
  if (!isValidName(value)) throw new InvalidNameError(what, value);
}

export function isValidJurisdiction(value: unknown): value is string {
  return typeof value === 'string' && JURISDICTION_PATTERN.test(value);
}
