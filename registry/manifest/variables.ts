import { VARIABLE_NAME } from './schema.js';

/**
 * Names a variable may not have although they match VARIABLE_NAME: in a plain object they are
 * Object.prototype's own members (`__proto__` is even an accessor, so assigning it drops the
 * value silently), and code that looks a variable up without Object.hasOwn would find them.
 */
export const RESERVED_VARIABLE_NAMES: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/** Why `name` cannot be a variable's name, or undefined when it can. */
export function variableNameProblem(name: string): string | undefined {
  if (RESERVED_VARIABLE_NAMES.includes(name)) {
    return `${JSON.stringify(name)} is a reserved name (${RESERVED_VARIABLE_NAMES.join(', ')} are not allowed): choose another variable name`;
  }
  if (!VARIABLE_NAME.test(name)) {
    return `${JSON.stringify(name)} is not a valid variable name: use letters, digits and '_', not starting with a digit`;
  }
  return undefined;
}

/** An empty variable table without a prototype, so every name is an own, plain entry. */
export function emptyVariables(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}
