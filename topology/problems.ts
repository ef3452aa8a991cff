/**
 * ProblemList found in a value, each as `path: what` (`deployments[0]: must be an object`). Every
 * validator of the core collects into one of these, so a record rejected by the gateway, the
 * registry and the SDK is described in the same words everywhere.
 */

/** More problems than this say nothing new and would bloat logs and status reports. */
const MAX_PROBLEMS = 20;

export class ProblemList {
  readonly list: string[] = [];
  private dropped = 0;

  add(path: string, what: string): void {
    if (this.list.length < MAX_PROBLEMS) this.list.push(path ? `${path}: ${what}` : what);
    else this.dropped++;
  }

  get ok(): boolean {
    return this.list.length === 0;
  }

  /** The problems, with a last line saying how many were left out. */
  result(): string[] {
    return this.dropped > 0 ? [...this.list, `(${this.dropped} more problems)`] : this.list;
  }
}

/** `items[3]`, `spec.name`: how paths are joined. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** One short line for logs and reports: the first problems, cut to `max` characters. */
export function summarize(problems: readonly string[], max = 400): string {
  const text = problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; … (${problems.length} problems)` : '');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
