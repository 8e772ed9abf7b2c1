import {
  connect,
  ErrorCode,
  NatsError,
  type DebugEvents,
  type Events,
  type Msg,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { AethirError, isAethirError } from '../../core/errors.js';
import { canonicalize, decodeCanonical } from '../../core/encoding.js';
import type { Bus, BusHandler, BusStats, RequestOptions, Responder, ServeOptions } from '../bus.js';
import {
  checkMessage,
  checkReply,
  ReplyEnvelopeSchema,
  subjectKind,
  type Checked,
  type ReplyEnvelope,
} from '../messages.js';
import {
  Counters,
  DEFAULT_REQUEST_TIMEOUT_MS,
  fromReplyError,
  noResponder,
  runHandler,
  timedOut,
  toReplyError,
} from '../reply.js';

export interface NatsBusOptions {
  servers: string | string[];
  /**
   * Every subject lives under this prefix (e.g. `aethir.<chainId>.`), so several networks can
   * share one NATS server without seeing each other's traffic. A trailing dot is added if missing.
   */
  prefix: string;
  /** the connection's name, as the server's monitoring shows it */
  name?: string;
  requestTimeoutMs?: number;
  /** pause between reconnect attempts; default 250 ms */
  reconnectTimeWaitMs?: number;
  /** keep retrying when no server is up yet instead of failing connect(); default false */
  waitOnFirstConnect?: boolean;
}

export interface NatsBusStatus {
  type: `${Events}` | `${DebugEvents}` | 'closed';
  data?: string;
}

export interface NatsBusStats extends BusStats {
  /** publishes and replies nats.js refused (connection closed, payload over the server's limit) */
  publishFailed: number;
  disconnects: number;
  reconnects: number;
}

const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;
const te = new TextEncoder();
const td = new TextDecoder();

/**
 * The Bus over core NATS: telemetry is at-most-once, requests use NATS request/reply (queue
 * groups share the load). Payloads are canonical JSON, so bigints survive the trip, and every
 * message is checked against its subject's schema on receipt: a peer can get its own message
 * dropped, never crash this node or hand a handler an unexpected shape.
 */
export class NatsBus implements Bus {
  readonly prefix: string;
  /**
   * Published messages and requests live in sibling subtrees (`<prefix>ev.…`, `<prefix>rpc.…`),
   * as they are separate registries in MemoryBus. In one subtree a plain subscriber on `>` would
   * receive every request and, being interest to the server, turn "no responder" into a timeout.
   */
  private readonly ev: string;
  private readonly rpc: string;
  private readonly counters = new Counters();
  private publishFailed = 0;
  private disconnects = 0;
  private reconnects = 0;
  private connectedNow = true;
  private readonly listeners = new Set<(s: NatsBusStatus) => void>();
  private readonly requestTimeoutMs: number;

  /** Takes ownership of `nc`: close() and drain() close it. */
  constructor(
    readonly nc: NatsConnection,
    opts: { prefix: string; requestTimeoutMs?: number },
  ) {
    this.prefix = normalizePrefix(opts.prefix);
    this.ev = `${this.prefix}ev.`;
    this.rpc = `${this.prefix}rpc.`;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    void this.watchStatus();
  }

  static async connect(opts: NatsBusOptions): Promise<NatsBus> {
    const prefix = normalizePrefix(opts.prefix);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: opts.servers,
        name: opts.name,
        // The bus must outlive any NATS restart: give up never, retry quickly.
        maxReconnectAttempts: -1,
        reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
        waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
      });
    } catch (e) {
      throw new AethirError(
        'UNAVAILABLE',
        `cannot connect to NATS at ${String(opts.servers)}: ${message(e)}`,
        {
          cause: e,
        },
      );
    }
    return new NatsBus(nc, { prefix, requestTimeoutMs: opts.requestTimeoutMs });
  }

  /** The subject a message (or, with rpc, a request) on `subject` has on the NATS server. */
  wireSubject(subject: string, rpc = false): string {
    return (rpc ? this.rpc : this.ev) + subject;
  }

  /** False from a disconnect until the reconnect (publishes meanwhile are buffered by nats.js). */
  get connected(): boolean {
    return this.connectedNow && !this.nc.isClosed();
  }

  get dropped(): number {
    return this.counters.dropped;
  }

  get droppedMalformed(): number {
    return this.counters.droppedMalformed;
  }

  stats(): NatsBusStats {
    const c = this.counters;
    return {
      dropped: c.dropped,
      droppedMalformed: c.droppedMalformed,
      malformedByKind: { ...c.malformedByKind },
      publishFailed: this.publishFailed,
      disconnects: this.disconnects,
      reconnects: this.reconnects,
    };
  }

  /** Connection events (disconnect, reconnecting, reconnect, error, ..., closed); returns unsubscribe. */
  onStatus(cb: (s: NatsBusStatus) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /**
   * Never throws for the connection's sake: while reconnecting nats.js buffers, and once closed
   * or over the payload limit the message is counted in publishFailed and lost, as telemetry may be.
   * An unencodable value (a function, NaN) is a bug at the call site and does throw.
   */
  publish(subject: string, data: unknown): void {
    const bytes = encode(data);
    try {
      this.nc.publish(this.ev + subject, bytes);
    } catch {
      this.publishFailed++;
    }
  }

  subscribe(pattern: string, handler: BusHandler): () => void {
    const sub = this.nc.subscribe(this.ev + pattern, {
      callback: (err, msg) => {
        // err is a subscription-level failure (e.g. a permission violation), also reported via status.
        if (err) return;
        const subject = msg.subject.slice(this.ev.length);
        const r = this.decode(subject, msg.data);
        if (r.ok) runHandler(handler, r.data, subject, () => this.counters.dropped++);
      },
    });
    return () => stop(sub);
  }

  serve(subject: string, handler: Responder, opts: ServeOptions = {}): () => void {
    const sub = this.nc.subscribe(this.rpc + subject, {
      ...(opts.queue === undefined ? {} : { queue: opts.queue }),
      callback: (err, msg) => {
        if (!err) void this.answer(msg, handler);
      },
    });
    return () => stop(sub);
  }

  async request(subject: string, data: unknown, opts: RequestOptions = {}): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    let msg: Msg;
    try {
      msg = await this.nc.request(this.rpc + subject, encode(data), { timeout: Math.max(1, timeoutMs) });
    } catch (e) {
      throw requestError(e, subject, timeoutMs);
    }
    let envelope: ReplyEnvelope;
    try {
      envelope = ReplyEnvelopeSchema.parse(decodeCanonical(td.decode(msg.data)));
    } catch {
      this.counters.malformed(subjectKind(subject));
      throw new AethirError('INTERNAL', `malformed reply on ${subject}`);
    }
    if ('error' in envelope) throw fromReplyError(envelope.error);
    const r = checkReply(subject, envelope.result);
    if (r.ok) return r.data;
    this.counters.malformed(r.kind);
    throw new AethirError('INTERNAL', `malformed reply on ${subject}: ${r.reason}`);
  }

  /** Waits until the server has processed everything published so far. */
  async flush(): Promise<void> {
    await this.nc.flush();
  }

  /** Lets in-flight deliveries finish, then closes. */
  async drain(): Promise<void> {
    if (!this.nc.isClosed() && !this.nc.isDraining()) await this.nc.drain();
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private async answer(msg: Msg, handler: Responder): Promise<void> {
    const subject = msg.subject.slice(this.rpc.length);
    const r = this.decode(subject, msg.data);
    let reply: ReplyEnvelope;
    if (!r.ok) {
      // Answered rather than ignored: the requester learns why at once instead of timing out.
      reply = { error: { code: 'INVALID_ARGUMENT', message: `malformed ${r.kind} request: ${r.reason}` } };
    } else {
      try {
        const v = await handler(r.data, subject);
        reply = { result: v === undefined ? null : v };
      } catch (e) {
        if (!isAethirError(e)) this.counters.dropped++;
        reply = { error: toReplyError(e) };
      }
    }
    if (!msg.reply) return;
    let bytes: Uint8Array;
    try {
      bytes = encode(reply);
    } catch {
      this.counters.dropped++;
      bytes = encode({ error: { code: 'INTERNAL', message: 'responder returned an unencodable value' } });
    }
    try {
      msg.respond(bytes);
    } catch {
      this.publishFailed++;
    }
  }

  private decode(subject: string, bytes: Uint8Array): Checked {
    let data: unknown;
    try {
      data = decodeCanonical(td.decode(bytes));
    } catch (e) {
      const kind = subjectKind(subject);
      this.counters.malformed(kind);
      return { ok: false, kind, reason: `not JSON: ${message(e)}` };
    }
    const r = checkMessage(subject, data);
    if (!r.ok) this.counters.malformed(r.kind);
    return r;
  }

  private async watchStatus(): Promise<void> {
    void this.nc.closed().then((err) => {
      this.connectedNow = false;
      this.emit({ type: 'closed', ...(err ? { data: err.message } : {}) });
    });
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.connectedNow = false;
        this.disconnects++;
      } else if (s.type === 'reconnect') {
        this.connectedNow = true;
        this.reconnects++;
      }
      this.emit({ type: s.type, data: typeof s.data === 'string' ? s.data : JSON.stringify(s.data) });
    }
  }

  private emit(s: NatsBusStatus): void {
    for (const cb of [...this.listeners]) {
      try {
        cb(s);
      } catch {
        // A status listener is an observer: its failure must not stop the others.
      }
    }
  }
}

function normalizePrefix(prefix: string): string {
  if (!PREFIX.test(prefix))
    throw new AethirError(
      'CONFIG_INVALID',
      `bus prefix ${JSON.stringify(prefix)} must be dot-separated tokens of letters, digits, _ or -`,
    );
  return prefix.endsWith('.') ? prefix : `${prefix}.`;
}

function encode(data: unknown): Uint8Array {
  return te.encode(canonicalize(data === undefined ? null : data));
}

function stop(sub: Subscription): void {
  try {
    if (!sub.isClosed()) sub.unsubscribe();
  } catch {
    // The connection is already closed: the subscription is gone with it.
  }
}

function requestError(e: unknown, subject: string, timeoutMs: number): AethirError {
  if (e instanceof NatsError) {
    if (e.code === ErrorCode.NoResponders) return noResponder(subject);
    if (e.code === ErrorCode.Timeout) return timedOut(subject, timeoutMs);
  }
  return new AethirError('UNAVAILABLE', `request on ${subject} failed: ${message(e)}`, { cause: e });
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
