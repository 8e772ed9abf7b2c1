import type { Bus, BusHandler, BusStats, Responder } from '../bus/bus.js';
import { checkMessage, type ReplyEnvelope } from '../bus/messages.js';
import { subjectMatches } from '../bus/subject.js';
import { signTelemetry, signEventsAuth, EVENTS_AUTH_HEADER } from '../bus/telemetry.js';
import { toReplyError } from '../bus/reply.js';
import { decodeCanonical } from '../core/canonical.js';
import type { Clock } from '../core/clock.js';
import { AethirError, isAethirError } from '../core/errors.js';
import type { KeyPair } from '../core/keys.js';
import { subjects } from '../bus/subjects.js';

export interface HttpBusOptions {
  /** the API node, e.g. http://10.0.0.5:7420 */
  base: string;
  /** the container's key: telemetry is signed with it, events are those of this container */
  key: KeyPair;
  chainId: string;
  clock: Clock;
  /** most messages kept while the node is unreachable; the oldest are dropped first (default 10,000) */
  maxQueued?: number;
  /**
   * most bytes (as JSON) kept queued (default 8 MiB): past it, the oldest workload output is dropped
   * first, so a lease flooding its output cannot grow the container's memory while the node keeps up
   */
  maxQueuedBytes?: number;
  log?: (line: string) => void;
}

const MAX_BATCH = 500;
/** A check's request id, as the API node makes them (also what may follow `reply.` in a subject). */
const CHECK_ID = /^[0-9a-f]{16,64}$/;

/**
 * The bus of a container that joined a network through an API node's HTTP API (`aethir container
 * start --network URL`): what it publishes (heartbeats, workload output) goes out in signed,
 * ordered batches to POST /v1/telemetry; what it subscribes to (its lease events) comes from the
 * server-sent events of GET /v1/containers/<id>/events, which start with every open lease, so a
 * reconnect misses nothing. Each connection proves the container's key with a fresh signed
 * header (signEventsAuth: chain, route, a growing `at`): the stream is the container's alone.
 *
 * Request/reply stays with the nodes, with one exception: the container's own check subject
 * (`check.<id>`, checkers' probes and capacity challenges). The API node serves it on the
 * network's bus while the event stream is open and relays each request as a `check` event
 * `{ id, subject, data }`; the handler given to `serve` answers it, and the answer goes out at
 * once, ahead of queued telemetry and in a batch of its own, as message `reply.<id>` with data
 * `{ result }` or `{ error: { code, message } }`.
 */
export class HttpBus implements Bus {
  private readonly base: string;
  private queue: Array<{ subject: string; data: unknown; bytes: number }> = [];
  private queuedBytes = 0;
  /** answers to checks: sent before the queue, never in the same batch (a late one is refused) */
  private replies: Array<{ subject: string; data: unknown; bytes: number }> = [];
  private sending = false;
  private lastAt = 0;
  private closed = false;
  private readonly subs = new Set<{ pattern: string; handler: BusHandler }>();
  private readonly servers = new Set<{ pattern: string; handler: Responder }>();
  private events: AbortController | null = null;
  private lastEventsAt = 0;
  private readonly counters = { dropped: 0, droppedMalformed: 0, sent: 0, failures: 0 };

  constructor(private readonly opts: HttpBusOptions) {
    this.base = opts.base.replace(/\/+$/, '');
  }

  stats(): BusStats & { sent: number; failures: number; queued: number } {
    return { ...this.counters, malformedByKind: {}, queued: this.queue.length + this.replies.length };
  }

  publish(subject: string, data: unknown): void {
    if (this.closed) return;
    // What the server will see after JSON: the signature is over exactly that.
    const json = JSON.stringify(data);
    this.queue.push({ subject, data: JSON.parse(json), bytes: json.length });
    this.queuedBytes += json.length;
    const max = this.opts.maxQueued ?? 10_000;
    if (this.queue.length > max) {
      this.counters.dropped += this.queue.length - max;
      for (const m of this.queue.splice(0, this.queue.length - max)) this.queuedBytes -= m.bytes;
    }
    const maxBytes = this.opts.maxQueuedBytes ?? 8 * 1024 * 1024;
    while (this.queuedBytes > maxBytes && this.queue.length > 1) {
      // Output first (the log hub marks the gap where it shows); heartbeats and exits last.
      const output = this.queue.findIndex((m) => /^lease\.[^.]+\.log$/.test(m.subject));
      const [gone] = this.queue.splice(output >= 0 ? output : 0, 1);
      this.queuedBytes -= gone!.bytes;
      this.counters.dropped++;
    }
    void this.pump();
  }

  /** Sends what is queued, in order, one batch at a time; retries with back-off while the node is away. */
  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    let wait = 250;
    try {
      while ((this.replies.length || this.queue.length) && !this.closed) {
        // One request at a time, so that `at` arrives in order. Answers to checks first, each on
        // its own: one that came too late is refused, and must not take anything else with it.
        const from = this.replies.length ? this.replies : this.queue;
        const batch = from.slice(0, from === this.replies ? 1 : MAX_BATCH);
        this.lastAt = Math.max(this.lastAt + 1, Math.floor(this.opts.clock.now()));
        const envelope = signTelemetry(
          this.opts.key,
          this.opts.chainId,
          this.lastAt,
          batch.map(({ subject, data }) => ({ subject, data })),
        );
        try {
          const res = await fetch(`${this.base}/v1/telemetry`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(envelope),
          });
          if (res.status >= 500) throw new Error(`HTTP ${res.status}`);
          if (!res.ok) {
            // Refused for what it is (not for where the node is): retrying cannot help.
            this.counters.droppedMalformed += batch.length;
            this.opts.log?.(`telemetry refused (${res.status}): ${(await res.text()).slice(0, 200)}`);
          } else this.counters.sent += batch.length;
          // By identity: publish() may have dropped queued messages while this batch was in flight.
          const sent = new Set(batch);
          const kept = from.filter((m) => {
            if (!sent.has(m)) return true;
            this.queuedBytes -= m.bytes;
            return false;
          });
          from.splice(0, from.length, ...kept);
          wait = 250;
        } catch (e) {
          this.counters.failures++;
          if (this.counters.failures % 20 === 1)
            this.opts.log?.(`cannot reach ${this.base}: ${(e as Error).message}; retrying`);
          await new Promise((r) => setTimeout(r, wait));
          wait = Math.min(wait * 2, 5_000);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  subscribe(pattern: string, handler: BusHandler): () => void {
    const sub = { pattern, handler };
    this.subs.add(sub);
    if (!this.events) this.follow();
    return () => this.subs.delete(sub);
  }

  /**
   * Answers checkers' requests to this container (`check.<id>`) and users' requests for its
   * leases' kept logs (`logs.<id>`), relayed by the API node over the event stream; any other
   * subject is refused UNAVAILABLE: a container joined over HTTP serves nothing else.
   */
  serve(subject: string, handler: Responder): () => void {
    const own = [subjects.check(this.opts.key.address), subjects.logs(this.opts.key.address)];
    if (!own.includes(subject))
      throw new AethirError(
        'UNAVAILABLE',
        `a container joined over HTTP serves only its checks and its leases' logs (${own.join(', ')}), not ${subject}`,
      );
    const server = { pattern: subject, handler };
    this.servers.add(server);
    if (!this.events) this.follow();
    return () => this.servers.delete(server);
  }

  private follow(): void {
    const abort = new AbortController();
    this.events = abort;
    const url = `${this.base}/v1/containers/${this.opts.key.address}/events`;
    void (async () => {
      let wait = 250;
      while (!abort.signal.aborted) {
        try {
          // Proves the container's key (a fresh, growing `at` each time: the server refuses a replay).
          this.lastEventsAt = Math.max(Date.now(), this.lastEventsAt + 1);
          const res = await fetch(url, {
            signal: abort.signal,
            headers: {
              [EVENTS_AUTH_HEADER]: signEventsAuth(this.opts.key, this.opts.chainId, this.lastEventsAt),
            },
          });
          if (!res.ok || !res.body) {
            const err = ((await res.json().catch(() => ({}))) as { error?: { message?: string } }).error;
            throw new Error(`HTTP ${res.status}${err?.message ? `: ${err.message}` : ''}`);
          }
          wait = 250;
          let buf = '';
          const decoder = new TextDecoder();
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            buf += decoder.decode(chunk, { stream: true });
            let end: number;
            while ((end = buf.indexOf('\n\n')) >= 0) {
              const frame = buf.slice(0, end);
              buf = buf.slice(end + 2);
              const lines = frame.split('\n');
              const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
              const data = lines
                .filter((l) => l.startsWith('data: '))
                .map((l) => l.slice(6))
                .join('\n');
              if (!data) continue;
              if (event === 'check') this.answer(data);
              else this.deliver(data);
            }
          }
        } catch (e) {
          if (abort.signal.aborted) return;
          this.opts.log?.(`lease events from ${this.base}: ${(e as Error).message}; reconnecting`);
        }
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, 5_000);
      }
    })();
  }

  private deliver(text: string): void {
    let m: { subject: string; msg: unknown };
    try {
      m = decodeCanonical(text) as { subject: string; msg: unknown };
      if (typeof m?.subject !== 'string') throw new Error('no subject');
    } catch {
      this.counters.droppedMalformed++;
      return;
    }
    for (const s of [...this.subs]) {
      if (!subjectMatches(s.pattern, m.subject)) continue;
      try {
        s.handler(m.msg, m.subject);
      } catch {
        this.counters.dropped++;
      }
    }
  }

  /** A relayed check: the handler's answer (or why there is none) goes out at once as `reply.<id>`. */
  private answer(text: string): void {
    let m: { id: string; subject: string; data: unknown };
    try {
      m = decodeCanonical(text) as typeof m;
      if (typeof m?.id !== 'string' || !CHECK_ID.test(m.id) || typeof m.subject !== 'string')
        throw new Error('no id or subject');
    } catch {
      this.counters.droppedMalformed++;
      return;
    }
    const { id, subject } = m;
    const server = [...this.servers].find((s) => subjectMatches(s.pattern, subject));
    void (async (): Promise<ReplyEnvelope> => {
      if (!server) return { error: { code: 'UNAVAILABLE', message: `no responder for ${subject}` } };
      // The node checked the request; so does this side, as a bus does on receipt.
      const r = checkMessage(subject, m.data);
      if (!r.ok)
        return { error: { code: 'INVALID_ARGUMENT', message: `malformed ${r.kind} request: ${r.reason}` } };
      try {
        const v = await server.handler(r.data, subject);
        return { result: v === undefined ? null : v };
      } catch (e) {
        if (!isAethirError(e)) this.counters.dropped++;
        return { error: toReplyError(e) };
      }
    })().then((reply) => {
      if (this.closed) return;
      let data: unknown;
      try {
        data = JSON.parse(JSON.stringify(reply));
      } catch {
        this.counters.dropped++;
        data = { error: { code: 'INTERNAL', message: 'responder returned an unencodable value' } };
      }
      this.replies.push({ subject: `reply.${id}`, data, bytes: 0 });
      void this.pump();
    });
  }

  request(subject: string): Promise<unknown> {
    return Promise.reject(
      new AethirError(
        'UNAVAILABLE',
        `request/reply (${subject}) is not available to a container joined over HTTP`,
      ),
    );
  }

  /** Sends what is still queued (for up to `timeoutMs`), then stops. */
  async close(timeoutMs = 3_000): Promise<void> {
    const deadline = this.opts.clock.now() + timeoutMs;
    while ((this.queue.length || this.replies.length) && this.opts.clock.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    this.events?.abort();
  }
}
