import { readFile } from 'node:fs/promises';

/** Resident set size of a process, in MiB (from /proc; Linux only). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for process ${pid}`);
  return Math.round((kb / 1024) * 10) / 10;
}
