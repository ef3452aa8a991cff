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

  get size(): number {
    return this.details.length;
  }

  /** Throws a ValidationError when any problem was found. */
  throwIfAny(): void {
    if (this.details.length > 0) throw new ValidationError(this.details);
  }
}
