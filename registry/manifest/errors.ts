import { WaymarkError } from '../../topology/index.js';
import type { ErrorDetail } from '../../openapi/index.js';
import { fieldPath, resourceId, type Origin, type PathSegment, type Position } from './schema.js';

/** Manifests were rejected; `details` names every problem found (file, document, resource, field). */
export class ValidationError extends WaymarkError {
  constructor(readonly details: ErrorDetail[]) {
    super(
      'VALIDATION_FAILED',
      `the manifests were rejected with ${details.length} problem${details.length === 1 ? '' : 's'}; nothing was applied: fix ${details.length === 1 ? 'it' : 'them'} and apply again`,
    );
  }
}

/** What a problem is about: everything but the message is optional, to say as much as is known. */
export interface ProblemSubject {
  origin?: Origin;
  kind?: string;
  name?: string;
  path?: readonly PathSegment[];
  position?: Position;
}

/** Collects every problem of an apply, so one rejection reports them all. */
export class Problems {
  readonly details: ErrorDetail[] = [];

  /** `rule`: the stable name of the upstream rule that refused a value, when one did. */
  add(subject: ProblemSubject, message: string, rule?: string): void {
    const d: ErrorDetail = { message, ...(rule ? { rule } : {}) };
    if (subject.origin) {
      d.file = subject.origin.file;
      d.document = subject.origin.document;
    }
    if (subject.kind && subject.name) d.resource = resourceId(subject.kind, subject.name);
    if (subject.path?.length) d.field = fieldPath(subject.path);
    if (subject.position) {
      d.line = subject.position.line;
      d.column = subject.position.column;
    }
    this.details.push(d);
  }

  /**
   * Drops the problems found from index `from` on that name a field already reported before it:
   * the checks between documents see a document with problems as written, and the field's first
   * problem is the cause of the later ones.
   */
  dropRepeatsFrom(from: number): void {
    const key = (d: ErrorDetail) => (d.field === undefined ? undefined : `${d.file}\u0000${d.document}\u0000${d.resource}\u0000${d.field}`);
    const earlier = new Set(this.details.slice(0, from).map(key));
    const later = this.details.slice(from).filter((d) => {
      const k = key(d);
      return k === undefined || !earlier.has(k);
    });
    this.details.splice(from, this.details.length - from, ...later);
  }

  get size(): number {
    return this.details.length;
  }

  /** Throws a ValidationError when any problem was found. */
  throwIfAny(): void {
    if (this.details.length > 0) throw new ValidationError(this.details);
  }
}
