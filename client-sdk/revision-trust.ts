/**
 * Which topology revisions the client trusts, from what each source (a gateway, or the cache
 * file) last served.
 *
 * Revisions only move forward, so a document older than the one held is a rollback (a lagging
 * gateway) and is rejected. But a single gateway must not be able to pin the client: one that
 * answers an absurd revision (2^53 − 1), or a reset one whose revisions start again from a
 * lower number, would otherwise make every later good document a "rollback". So:
 *
 * - a newer document is adopted at once (a change propagates without waiting for anyone);
 * - the held revision is *confirmed* once two sources have served it (see `vouchers`); while it
 *   is not, discovery asks the other sources for their document (a plain GET each, until one
 *   agrees), so a lie is found out without waiting for a failure;
 * - an older document overrules the held one only when at least two sources agree on it (their
 *   latest documents have its revision) and at most one source still serves the held revision
 *   or a newer one: that source is then *suspect*, and its newer documents are taken only once
 *   another source has served the same revision (which clears the suspicion);
 * - otherwise an older document is a rollback and rejected, as before.
 *
 * A liar alone can therefore move the client at most once, and two honest gateways bring it
 * back; a reset environment is followed once two of its gateways serve the new revisions.
 */
export type Verdict = 'adopt' | 'same' | 'overrule' | 'rollback' | 'unconfirmed';

export class RevisionTrust {
  /** The revision each source served last. */
  private readonly latest = new Map<string, number>();
  private readonly suspects = new Set<string>();

  /** Records that `source` serves `revision` and judges it against the revision held. */
  judge(source: string, revision: number, held: number | undefined): Verdict {
    const key = sourceKey(source);
    this.latest.set(key, revision);
    if (held === undefined) return 'adopt';
    if (revision === held) {
      if (this.vouchers(revision) >= 2) this.suspects.delete(key);
      return 'same';
    }
    if (revision > held) {
      if (this.suspects.has(key)) {
        if (this.vouchers(revision) < 2) return 'unconfirmed';
        this.suspects.delete(key);
      }
      return 'adopt';
    }
    let atOrAboveHeld = 0;
    for (const r of this.latest.values()) if (r >= held) atOrAboveHeld++;
    if (this.vouchers(revision) >= 2 && atOrAboveHeld <= 1) {
      for (const [s, r] of this.latest) if (r >= held) this.suspects.add(s);
      return 'overrule';
    }
    return 'rollback';
  }

  /** Records that `source` confirmed the held revision without sending it again (a 304). */
  record(source: string, revision: number): void {
    this.latest.set(sourceKey(source), revision);
  }

  /** How many sources' latest document has this revision. */
  vouchers(revision: number): number {
    let n = 0;
    for (const r of this.latest.values()) if (r === revision) n++;
    return n;
  }

  /** The revision `source` served last, if any. */
  latestOf(source: string): number | undefined {
    return this.latest.get(sourceKey(source));
  }
}

/** A gateway's base URL from the URL of its document (`…/.well-known/topology?wait=…`). */
function sourceKey(source: string): string {
  const i = source.indexOf('/.well-known/topology');
  return i < 0 ? source : source.slice(0, i);
}
