import type { Bus } from '../bus/index.js';
import { subjects, type LeaseLogMsg } from '../container/index.js';

const MAX_BYTES_PER_LEASE = 1 << 20;
const MAX_LEASES = 500;

interface LeaseLog {
  events: LeaseLogMsg[];
  bytes: number;
  truncated: boolean;
  done: boolean;
  listeners: Set<(e: LeaseLogMsg) => void>;
}

/**
 * Keeps each lease's output (bounded) so a client that connects after the workload started
 * still sees everything from the first byte, then follows it live until the exit event.
 */
export class LogHub {
  private readonly logs = new Map<string, LeaseLog>();
  private readonly unsub: () => void;

  constructor(bus: Bus) {
    this.unsub = bus.subscribe(subjects.allLeaseOutput, (m, subject) => {
      const parts = subject.split('.');
      if (parts.length !== 3 || (parts[2] !== 'log' && parts[2] !== 'exit')) return;
      this.add(m as LeaseLogMsg);
    });
  }

  private get(lease: string): LeaseLog {
    let l = this.logs.get(lease);
    if (!l) {
      l = { events: [], bytes: 0, truncated: false, done: false, listeners: new Set() };
      this.logs.set(lease, l);
      if (this.logs.size > MAX_LEASES) {
        for (const [k, v] of this.logs) {
          if (v.done && v.listeners.size === 0) {
            this.logs.delete(k);
            break;
          }
        }
      }
    }
    return l;
  }

  private add(m: LeaseLogMsg): void {
    const l = this.get(m.lease);
    if (l.done) return;
    if (m.type === 'exit') l.done = true;
    const size = m.type === 'exit' ? 0 : m.data.length;
    // Past the cap the stored log stops (and says so) rather than keeping holes in the middle.
    if (m.type !== 'exit' && (l.truncated || l.bytes + size > MAX_BYTES_PER_LEASE)) l.truncated = true;
    else {
      l.events.push(m);
      l.bytes += size;
    }
    for (const fn of l.listeners) fn(m);
  }

  /** Everything so far, then live events, ending after 'exit'. Stops early when `signal` aborts. */
  async *follow(lease: string, signal?: AbortSignal): AsyncGenerator<LeaseLogMsg> {
    const l = this.get(lease);
    const pending: LeaseLogMsg[] = [...l.events];
    let wake: (() => void) | null = null;
    const listener = (e: LeaseLogMsg) => {
      pending.push(e);
      wake?.();
    };
    l.listeners.add(listener);
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        while (pending.length) {
          const e = pending.shift()!;
          yield e;
          if (e.type === 'exit') return;
        }
        if (signal?.aborted) return;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      l.listeners.delete(listener);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  snapshot(lease: string): { events: LeaseLogMsg[]; done: boolean; truncated: boolean } {
    const l = this.logs.get(lease);
    return { events: l?.events ?? [], done: l?.done ?? false, truncated: l?.truncated ?? false };
  }

  close(): void {
    this.unsub();
  }
}
