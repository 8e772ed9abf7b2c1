/**
 * Secrets and state on disk belong to the user running the node, and to nobody else on the machine:
 * key files are 0600 in 0700 directories, the ledger database (with its -wal and -shm) is 0600, and
 * data directories are 0700. What an older version (or a careless copy) left looser is tightened when
 * it is next opened, with a log line saying so.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Where tightening is reported by default: stderr, which every command keeps for such notes. */
export type ModeLog = (line: string) => void;
export const stderrLog: ModeLog = (line) => process.stderr.write(`aethir: ${line}\n`);

/** Creates `dir` (and missing parents) 0700, or tightens an existing one that others may use. */
export function ensurePrivateDir(dir: string, log: ModeLog = stderrLog): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tighten(dir, log);
}

/**
 * Takes group's and others' access away from `path` if it exists (absent is fine); the owner's own
 * bits stay as they are (a read-only copy stays read-only).
 */
export function tightenPrivateFile(path: string, log: ModeLog = stderrLog): void {
  tighten(path, log);
}

/** Creates `path` empty and 0600 unless it exists, so what is written to it later is private from the start. */
export function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', PRIVATE_FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

function tighten(path: string, log: ModeLog): void {
  let current: number;
  try {
    current = statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((current & 0o077) === 0) return;
  const mode = current & 0o700;
  chmodSync(path, mode);
  log(`tightened ${path} from ${octal(current)} to ${octal(mode)} (it was open to other users)`);
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
