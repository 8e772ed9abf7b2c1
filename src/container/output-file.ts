/**
 * A lease's whole output on disk, next to its working directory, up to a size cap: the agent keeps
 * only the last MiB in memory (for replay), so this file is where the rest can be read back. Past the
 * cap the file ends with a line saying so, and further output is only counted.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../core/private-files.js';
import { outputBytes } from './output-ring.js';
import { LEASE_ID_RE } from './runtimes/workload-common.js';
import type { WorkloadEvent } from './runtimes/runtime.js';

export const DEFAULT_LOG_FILE_MAX_BYTES = 64 * 1024 * 1024;

export class LeaseLogFile {
  readonly path: string;
  private fd: number | null;
  private written = 0;
  private skipped = 0;

  /**
   * Creates (or truncates) `<dir>/<leaseId>.log`, 0600 in a 0700 directory; `append`: goes on
   * after what it holds (a lease resumed after a pause), the cap counting that too.
   */
  constructor(
    dir: string,
    leaseId: string,
    private readonly maxBytes = DEFAULT_LOG_FILE_MAX_BYTES,
    private readonly log: (line: string) => void = () => {},
    append = false,
  ) {
    if (!LEASE_ID_RE.test(leaseId)) throw new Error(`invalid lease id ${JSON.stringify(leaseId)}`);
    ensurePrivateDir(dir, log);
    this.path = join(dir, `${leaseId}.log`);
    this.fd = openSync(this.path, append ? 'a' : 'w', PRIVATE_FILE_MODE);
    if (append) this.written = fstatSync(this.fd).size;
  }

  /** Appends an output event's data; an exit event closes the file with a last line. */
  write(e: WorkloadEvent): void {
    if (e.type === 'exit') {
      this.close();
      return;
    }
    const size = outputBytes(e);
    if (this.fd === null) {
      this.skipped += size;
      return;
    }
    const room = this.maxBytes - this.written;
    if (size <= room) {
      this.written += size;
      this.append(e.data);
      return;
    }
    // Fill the file to its cap exactly (a multi-byte character may be cut), then say where it stopped.
    this.append(Buffer.from(e.data).subarray(0, room));
    this.written += room;
    this.skipped += size - room;
    this.append(`\n[aethir] log file full at ${this.maxBytes} bytes: the rest is not kept\n`);
    this.stopWriting();
  }

  /** Bytes of output this file did not keep (past its cap, or after a write failed). */
  get droppedBytes(): number {
    return this.skipped;
  }

  close(): void {
    this.stopWriting();
  }

  private append(text: string | Uint8Array): void {
    if (this.fd === null) return;
    try {
      if (typeof text === 'string') writeSync(this.fd, text);
      else writeSync(this.fd, text);
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
