import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, chmodSync, writeSync } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Mode of every file Waymark writes (snapshots, tokens, caches, `waymark up` state): owner only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of the folders Waymark creates for such files. */
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Exclusive creation that never follows a symlink: a planted link or file at the temporary name
 * makes the write fail instead of redirecting it (O_NOFOLLOW is absent on Windows, where
 * O_EXCL alone refuses an existing link).
 */
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
/** Appending that never follows a symlink. */
const APPEND_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (constants.O_NOFOLLOW ?? 0);

/** A temporary name next to `path` (same file system, so the rename is atomic) nobody can guess. */
function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(12).toString('hex')}.tmp`);
}

/**
 * Replaces `path` with `data`, mode 0600, atomically: the bytes go to a temporary file created
 * exclusively (random name, no symlink followed) in the target's folder, are fsynced, and the
 * file is renamed over the target. A reader sees the old file or the new one, never a part; an
 * existing target's mode or owner is not inherited (the result is a new file).
 */
export async function writePrivateFile(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = temporaryName(path);
  const file = await open(tmp, CREATE_FLAGS, PRIVATE_FILE_MODE);
  try {
    // The umask may only remove bits; chmod makes the mode exactly 0600 whatever it is.
    await file.chmod(PRIVATE_FILE_MODE);
    await file.writeFile(data);
    await file.sync();
    await file.close();
    await rename(tmp, path);
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

/** writePrivateFile for synchronous callers (the CLI's `token create`, `waymark up`'s setup). */
export function writePrivateFileSync(path: string, data: string | Uint8Array): void {
  const tmp = temporaryName(path);
  const fd = openSync(tmp, CREATE_FLAGS, PRIVATE_FILE_MODE);
  let open = true;
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(tmp, path);
  } catch (err) {
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Opens `path` for appending (a log), created 0600 if new and made 0600 if not; never through a symlink. */
export function openPrivateAppendSync(path: string): number {
  const fd = openSync(path, APPEND_FLAGS, PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** Creates `path` (and missing parents) and makes it 0700, also when it existed with a wider mode. */
export async function makePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(path, PRIVATE_DIR_MODE);
}

/** makePrivateDir for synchronous callers. */
export function makePrivateDirSync(path: string): void {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(path, PRIVATE_DIR_MODE);
}
