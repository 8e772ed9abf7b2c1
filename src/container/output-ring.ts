/**
 * The last N bytes of a lease's output, in memory, for readers that each go at their own pace: the
 * workload's event log in the agent and the log hub of the API node both keep one per lease. Pushing
 * never blocks and never grows the ring past its cap (the newest event always stays); a reader that
 * falls behind what is kept gets one marker event saying how many bytes it missed, then goes on from
 * the oldest event still there. So a workload printing without end, or a reader that never reads,
 * costs at most the cap.
 */

/** Where one reader is: the sequence number of its next event and the output bytes before it. */
export interface RingCursor {
  next: number;
  offset: number;
}

interface Entry<E> {
  seq: number;
  offset: number;
  size: number;
  event: E;
}

type OutputEvent = { type: string; data?: string; at: number };

/** Bytes of output an event carries (0 for 'exit' and other events without data). */
export function outputBytes(e: OutputEvent): number {
  return e.type === 'exit' || typeof e.data !== 'string' ? 0 : Buffer.byteLength(e.data);
}

/** The text of the marker standing where `bytes` of output were dropped. */
export function droppedText(bytes: number, why: string): string {
  return `[aethir] ${bytes} bytes of output dropped here (${why})\n`;
}

export class OutputRing<E extends OutputEvent> {
  private ring: Array<Entry<E> | undefined> = [];
  /** Index of the oldest kept entry in `ring` (earlier slots are cleared, compacted lazily). */
  private head = 0;
  private seq = 0;
  private emitted = 0;
  private held = 0;

  constructor(
    readonly capBytes: number,
    /** The marker event for `bytes` dropped before an event stamped `at`. */
    private readonly marker: (bytes: number, at: number) => E,
  ) {}

  push(event: E): void {
    const size = outputBytes(event);
    this.ring.push({ seq: this.seq++, offset: this.emitted, size, event });
    this.emitted += size;
    this.held += size;
    while (this.held > this.capBytes && this.ring.length - this.head > 1) {
      this.held -= this.ring[this.head]!.size;
      this.ring[this.head++] = undefined;
    }
    if (this.head > 1024 && this.head * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.head);
      this.head = 0;
    }
  }

  /** Bytes of output no longer kept. */
  get droppedBytes(): number {
    const first = this.ring[this.head];
    return first ? first.offset : this.emitted;
  }

  /**
   * The next event for the reader at `cursor`, advancing it; a marker first if what it had not read
   * yet was dropped; undefined once it has read everything pushed so far.
   */
  read(cursor: RingCursor): E | undefined {
    const first = this.ring[this.head];
    if (!first) return undefined;
    if (cursor.next < first.seq) {
      const missed = first.offset - cursor.offset;
      cursor.next = first.seq;
      cursor.offset = first.offset;
      return this.marker(missed, first.event.at);
    }
    const entry = this.ring[this.head + (cursor.next - first.seq)];
    if (!entry) return undefined;
    cursor.next++;
    cursor.offset = entry.offset + entry.size;
    return entry.event;
  }

  /** What a new reader would get now: a marker for what was dropped, then every kept event. */
  snapshot(): E[] {
    const out: E[] = [];
    const cursor: RingCursor = { next: 0, offset: 0 };
    for (let e = this.read(cursor); e; e = this.read(cursor)) out.push(e);
    return out;
  }
}
