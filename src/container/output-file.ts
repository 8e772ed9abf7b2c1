/**
 * A lease's whole output on disk, next to its working directory, up to a size cap: the agent keeps
 * only the last MiB in memory (for replay), so this file is where the rest can be read back, also
 * after the workload exited and after an API node restarted (its user asks the host through the
 * API: `logs.<container>`, served by the agent). One JSON event a line (`type`, `at`, `data`, and
 * the exit's fields last), so `--since` and the exit code survive. Past the cap the file ends with a
 * line saying so, further output is only counted, and the exit line is still written.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../core/private-files.js';
import { outputBytes } from './output-ring.js';
import { LEASE_ID_RE } from './runtimes/workload-common.js';
import type { WorkloadEvent } from './runtimes/runtime.js';

export const DEFAULT_LOG_FILE_MAX_BYTES = 64 * 1024 * 1024;
/** The most bytes of the file one read returns (a bus reply must stay well under 1 MiB). */
export const LOG_READ_MAX_BYTES = 128 * 1024;
/** The most characters of output on one line of the file (a longer event takes several lines). */
const LINE_CHARS = 8192;

/** Where a lease's log file is. */
export function leaseLogPath(dir: string, leaseId: string): string {
  if (!LEASE_ID_RE.test(leaseId)) throw new Error(`invalid lease id ${JSON.stringify(leaseId)}`);
  return join(dir, `${leaseId}.ndjson`);
}

export class LeaseLogFile {
  readonly path: string;
  private fd: number | null;
  private written = 0;
  private skipped = 0;
  private full = false;

  /**
   * Creates (or truncates) `<dir>/<leaseId>.ndjson`, 0600 in a 0700 directory; `append`: goes on
   * after what it holds (a lease resumed after a pause), the cap counting that too.
   */
  constructor(
    dir: string,
    leaseId: string,
    private readonly maxBytes = DEFAULT_LOG_FILE_MAX_BYTES,
    private readonly log: (line: string) => void = () => {},
    append = false,
  ) {
    this.path = leaseLogPath(dir, leaseId);
    ensurePrivateDir(dir, log);
    this.fd = openSync(this.path, append ? 'a' : 'w', PRIVATE_FILE_MODE);
    if (append) {
      this.written = fstatSync(this.fd).size;
      this.full = this.written >= this.maxBytes;
    }
  }

  /** Appends an output event; an exit event is written last and closes the file. */
  write(e: WorkloadEvent): void {
    if (e.type === 'exit') {
      this.append(JSON.stringify(e) + '\n');
      this.close();
      return;
    }
    // Lines of at most LINE_CHARS characters, so one read of the file (a bus reply) stays small.
    if (e.data.length > LINE_CHARS) {
      for (let i = 0; i < e.data.length; i += LINE_CHARS)
        this.write({ ...e, data: e.data.slice(i, i + LINE_CHARS) });
      return;
    }
    const size = outputBytes(e);
    if (this.fd === null || this.full) {
      this.skipped += size;
      return;
    }
    const line = JSON.stringify({ type: e.type, at: e.at, data: e.data }) + '\n';
    const room = this.maxBytes - this.written;
    if (Buffer.byteLength(line) <= room) {
      this.written += Buffer.byteLength(line);
      this.append(line);
      return;
    }
    // Keep what fits of this event (whole characters), then say where the file stopped.
    const overhead = Buffer.byteLength(JSON.stringify({ type: e.type, at: e.at, data: '' }) + '\n');
    let keep = '';
    if (room > overhead) {
      const chars = [...e.data];
      let lo = 0;
      let hi = chars.length;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        const l = Buffer.byteLength(JSON.stringify(chars.slice(0, mid).join(''))) - 2;
        if (l <= room - overhead) lo = mid;
        else hi = mid - 1;
      }
      keep = chars.slice(0, lo).join('');
    }
    if (keep) this.append(JSON.stringify({ type: e.type, at: e.at, data: keep }) + '\n');
    this.skipped += size - Buffer.byteLength(keep);
    this.written = this.maxBytes;
    this.full = true;
    this.append(
      JSON.stringify({
        type: 'stderr',
        at: e.at,
        data: `\n[aethir] log file full at ${this.maxBytes} bytes: the rest is not kept\n`,
      }) + '\n',
    );
  }

  /** Bytes of output this file did not keep (past its cap, or after a write failed). */
  get droppedBytes(): number {
    return this.skipped;
  }

  close(): void {
    this.stopWriting();
  }

  private append(text: string): void {
    if (this.fd === null) return;
    try {
      writeSync(this.fd, text);
    } catch (err) {
      // A full disk must not take the lease down: the output still streams, only the file stops.
      this.log(`cannot write ${this.path}: ${(err as Error).message}; its output is no longer kept on disk`);
      this.stopWriting();
    }
  }

  private stopWriting(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch {
      // already gone
    }
  }
}

export interface LogPage {
  /** the events of the whole lines from `offset` on */
  events: WorkloadEvent[];
  /** where the next read starts */
  next: number;
  /** the file's size at this read: next === size means everything written so far was read */
  size: number;
}

/**
 * Reads whole lines of a lease's log file from byte `offset`, at most `maxBytes` of the file (a
 * line longer than that is returned alone). Lines that do not parse as events are skipped (a
 * file is the host's own writing; this is for a torn last line after a crash). NOT_FOUND-like:
 * returns null where no file is kept.
 */
export function readLeaseLog(
  dir: string,
  leaseId: string,
  offset: number,
  maxBytes = LOG_READ_MAX_BYTES,
): LogPage | null {
  const path = leaseLogPath(dir, leaseId);
  if (!existsSync(path)) return null;
  const size = statSync(path).size;
  const start = Math.max(0, Math.min(Math.floor(offset), size));
  const fd = openSync(path, 'r');
  try {
    let want = Math.min(maxBytes, size - start);
    for (;;) {
      const buf = Buffer.alloc(want);
      const n = readSync(fd, buf, 0, want, start);
      const chunk = buf.subarray(0, n);
      const end = chunk.lastIndexOf(0x0a);
      if (end < 0 && start + n < size && want < DEFAULT_LOG_FILE_MAX_BYTES + 4096) {
        // one line longer than a page: read it whole (the file's own cap bounds it)
        want = Math.min(size - start, want * 2);
        continue;
      }
      const whole = end < 0 ? Buffer.alloc(0) : chunk.subarray(0, end + 1);
      const events: WorkloadEvent[] = [];
      for (const line of whole.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const e = JSON.parse(line) as WorkloadEvent;
          if (e && typeof e === 'object' && typeof e.at === 'number' && typeof e.type === 'string')
            events.push(e);
        } catch {
          // a torn line: skipped
        }
      }
      return { events, next: start + whole.length, size };
    }
  } finally {
    closeSync(fd);
  }
}
