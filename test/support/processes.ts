import { readdirSync, readFileSync } from 'node:fs';

/**
 * Direct children of a process (nginx's worker, a gateway's workers), read from /proc; with
 * `command`, only those whose command line contains it (a process run through tsx also has an
 * esbuild child).
 */
export function childPids(pid: number, command?: string): number[] {
  let pids: number[];
  try {
    pids = readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
  return command === undefined ? pids : pids.filter((p) => commandLine(p).includes(command));
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
