import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writePrivateFileSync } from '../../files/index.js';
import { WaymarkError } from '../../topology/index.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import { isValidName } from '../../topology/index.js';

/**
 * `admin` may do everything; `operator` may apply and promote to its listed environments and read
 * everything; `viewer` may only read.
 */
export type Role = 'admin' | 'operator' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

/** One token as stored: only the SHA-256 of the secret, never the secret itself. */
export interface TokenEntry {
  /** Who holds it, recorded in commit records (`by`). */
  name: string;
  /** Hex SHA-256 of the token. */
  sha256: string;
  role: Role;
  /** For operators: the environments they may write to. */
  environments?: string[];
  createdAt?: string;
}

/** The file format of `--tokens` / `WAYMARK_TOKENS_FILE`, and of the JSON in `WAYMARK_TOKENS`. */
export interface TokenFile {
  tokens: TokenEntry[];
}

/** The holder of a verified token. */
export interface Principal {
  name: string;
  role: Role;
  environments?: readonly string[];
}

export type TokenSource = { file: string } | { entries: readonly TokenEntry[] };

export class InvalidTokensError extends WaymarkError {
  /**
   * @param problem what is wrong, in words safe to show any caller: no path, no entry name, no
   *   excerpt of the file (a parser's message quotes it)
   * @param detail where exactly, for the operator's log and the CLI
   */
  constructor(
    where: string,
    readonly problem: string,
    detail?: string,
  ) {
    super('INVALID_TOKENS', `the tokens in ${where} cannot be used: ${problem}${detail ? ` (${detail})` : ''}; create them with \`waymark token create\``);
  }
}

/** A new random token: 32 bytes from the CSPRNG, base64url, with a recognisable prefix. */
export function generateToken(): string {
  return `wmk_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Verifies bearer tokens against stored hashes. A file source is re-read when it changes, so
 * tokens created while the registry runs work at once. Every stored hash is compared (in
 * constant time) on every check, so timing reveals nothing about which entry is close.
 */
export class TokenStore {
  private entries: Array<{ entry: TokenEntry; digest: Buffer }> = [];
  private fileStamp = '';

  constructor(private readonly source: TokenSource) {
    this.refresh();
  }

  /** From `WAYMARK_TOKENS` (JSON) or `WAYMARK_TOKENS_FILE`; undefined when neither is set. */
  static sourceFromEnv(env: NodeJS.ProcessEnv = process.env): TokenSource | undefined {
    if (env.WAYMARK_TOKENS) return { entries: parseTokenFile(env.WAYMARK_TOKENS, 'WAYMARK_TOKENS').tokens };
    if (env.WAYMARK_TOKENS_FILE) return { file: env.WAYMARK_TOKENS_FILE };
    return undefined;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Resolves an `Authorization` header to its principal; UnauthorizedError when missing or unknown. */
  authenticate(authorization: string | undefined): Principal {
    const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authorization ?? '');
    if (!match) {
      throw new UnauthorizedError('this request needs a token: send Authorization: Bearer <token> (waymark token create makes one)');
    }
    this.refresh();
    const digest = createHash('sha256').update(match[1], 'utf8').digest();
    let found: TokenEntry | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(digest, e.digest) && !found) found = e.entry;
    }
    if (!found) throw new UnauthorizedError('the token is not valid: check WAYMARK_TOKEN, or create a new one with waymark token create');
    return { name: found.name, role: found.role, ...(found.environments ? { environments: found.environments } : {}) };
  }

  private refresh(): void {
    if (!('file' in this.source)) {
      if (this.entries.length === 0) this.entries = prepare(this.source.entries, 'the given tokens');
      return;
    }
    const file = this.source.file;
    let stamp: string;
    try {
      const st = statSync(file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      throw new InvalidTokensError(file, `the file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`);
    }
    if (stamp === this.fileStamp) return;
    this.entries = prepare(parseTokenFile(readFileSync(file, 'utf8'), file).tokens, file);
    this.fileStamp = stamp;
  }
}

function prepare(entries: readonly TokenEntry[], where: string): Array<{ entry: TokenEntry; digest: Buffer }> {
  return entries.map((entry) => {
    validateEntry(entry, where);
    return { entry, digest: Buffer.from(entry.sha256, 'hex') };
  });
}

function validateEntry(e: TokenEntry, where: string): void {
  if (typeof e !== 'object' || e === null) throw new InvalidTokensError(where, 'an entry is not an object');
  if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) {
    throw new InvalidTokensError(where, 'an entry has no valid sha256 (64 lowercase hex digits)', `entry ${JSON.stringify(e.name)}`);
  }
  if (!ROLES.includes(e.role)) throw new InvalidTokensError(where, `an entry has an unknown role (roles: ${ROLES.join(', ')})`, `entry ${JSON.stringify(e.name)}, role ${JSON.stringify(e.role)}`);
  if (typeof e.name !== 'string' || e.name.length === 0) throw new InvalidTokensError(where, 'an entry has no name');
  if (e.environments !== undefined && (!Array.isArray(e.environments) || !e.environments.every(isValidName))) {
    throw new InvalidTokensError(where, 'an entry has invalid environments', `entry ${e.name}`);
  }
  if (e.role === 'operator' && !e.environments?.length) {
    throw new InvalidTokensError(where, 'an operator entry lists no environments', `entry ${e.name}`);
  }
}

export function parseTokenFile(text: string, where: string): TokenFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidTokensError(where, 'the file is not JSON', (err as Error).message);
  }
  const tokens = Array.isArray(value) ? value : (value as Partial<TokenFile> | null)?.tokens;
  if (!Array.isArray(tokens)) throw new InvalidTokensError(where, 'expected {"tokens": [...]}');
  return { tokens: tokens as TokenEntry[] };
}

/**
 * Creates a token and appends its hash to `file` (created with mode 0600, replaced atomically).
 * Returns the secret, which exists nowhere else: show it once.
 */
export function addToken(file: string, options: { role: Role; environments?: string[]; name?: string }): { token: string; entry: TokenEntry } {
  const token = generateToken();
  const sha256 = hashToken(token);
  const entry: TokenEntry = {
    name: options.name ?? `${options.role}-${sha256.slice(0, 8)}`,
    sha256,
    role: options.role,
    ...(options.environments?.length ? { environments: options.environments } : {}),
    createdAt: new Date().toISOString(),
  };
  validateEntry(entry, file);
  const current: TokenFile = existsSync(file) ? parseTokenFile(readFileSync(file, 'utf8'), file) : { tokens: [] };
  if (current.tokens.some((t) => t.name === entry.name)) {
    throw new InvalidTokensError(file, 'a token of that name exists already: choose another --name', entry.name);
  }
  current.tokens.push(entry);
  writePrivateFileSync(file, `${JSON.stringify(current, null, 2)}\n`);
  return { token, entry };
}

/** `administer`: what only admins may do whatever their scope, such as setting an upstream policy. */
export type Action = 'read' | 'write' | 'administer';

/** Throws ForbiddenError unless the principal may do `action` (on `environment`, for writes). */
export function authorize(principal: Principal, action: Action, environment?: string): void {
  if (principal.role === 'admin' || action === 'read') return;
  const scope =
    principal.role === 'operator' ? `operator for ${principal.environments?.join(', ') ?? 'no environment'}` : principal.role;
  if (action === 'administer') {
    throw new ForbiddenError(
      `token ${principal.name} (${scope}) may not change the upstream policy${environment ? ` of environment ${environment}` : ''}: only admin tokens may`,
    );
  }
  if (principal.role === 'operator' && environment !== undefined && principal.environments?.includes(environment)) return;
  throw new ForbiddenError(
    `token ${principal.name} (${scope}) may not ${action === 'write' ? 'change' : 'read'} ${environment ? `environment ${environment}` : 'this'}: use a token whose role allows it`,
  );
}
