import type { Bus } from '../bus/bus.js';
import { subjects, type LeaseLogMsg } from '../bus/subjects.js';
import { droppedText, OutputRing, type RingCursor } from '../container/output-ring.js';

const MAX_BYTES_PER_LEASE = 1 << 20;
const MAX_LEASES = 500;

interface LeaseLog {
  ring: OutputRing<LeaseLogMsg>;
  done: boolean;
  /** Followers to wake when an event arrives. */
  listeners: Set<() => void>;
}

/**
 * Keeps the last MiB of each lease's output so a client that connects after the workload started
 * still sees the most recent output (with a marker saying how many bytes before it were dropped;
 * the whole output is in the host's log file), then follows it live until the exit event. Each
 * follower reads the same ring at its own pace: one that falls more than the ring behind is skipped
 * ahead with a marker, never buffered for, so a flood or a slow client cannot grow the node.
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
      const ring = new OutputRing<LeaseLogMsg>(MAX_BYTES_PER_LEASE, (bytes, at) => ({
        lease,
        type: 'stderr',
        data: droppedText(bytes, `the node keeps the last ${MAX_BYTES_PER_LEASE} bytes`),
        at,
      }));
      l = { ring, done: false, listeners: new Set() };
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
    l.ring.push(m);
    for (const wake of [...l.listeners]) wake();
  }

  /** What is kept, then live events, ending after 'exit'. Stops early when `signal` aborts. */
  async *follow(lease: string, signal?: AbortSignal): AsyncGenerator<LeaseLogMsg> {
    const l = this.get(lease);
    const cursor: RingCursor = { next: 0, offset: 0 };
    let wake: (() => void) | null = null;
    const listener = () => wake?.();
    l.listeners.add(listener);
    signal?.addEventListener('abort', listener);
    try {
      for (;;) {
        for (let e = l.ring.read(cursor); e; e = l.ring.read(cursor)) {
          yield e;
          if (e.type === 'exit') return;
        }
        if (signal?.aborted) return;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      l.listeners.delete(listener);
      signal?.removeEventListener('abort', listener);
    }
  }

  /** The kept events (a marker first when earlier output was dropped) and whether the lease is done. */
  snapshot(lease: string): { events: LeaseLogMsg[]; done: boolean; truncated: boolean } {
    const l = this.logs.get(lease);
    return {
      events: l?.ring.snapshot() ?? [],
      done: l?.done ?? false,
      truncated: (l?.ring.droppedBytes ?? 0) > 0,
    };
  }

  close(): void {
    this.unsub();
  }
}
