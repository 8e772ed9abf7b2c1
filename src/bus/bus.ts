import { AethirError, isAethirError } from '../core/errors.js';
import { checkMessage, checkReply, type SubjectKind } from './messages.js';
import {
  Counters,
  DEFAULT_REQUEST_TIMEOUT_MS,
  fromReplyError,
  noResponder,
  runHandler,
  timedOut,
  toReplyError,
} from './reply.js';
import { subjectMatches } from './subject.js';

export { subjectMatches } from './subject.js';
export { DEFAULT_REQUEST_TIMEOUT_MS } from './reply.js';

export type BusHandler = (data: unknown, subject: string) => void;
export type Responder = (data: unknown, subject: string) => unknown | Promise<unknown>;

export interface RequestOptions {
  /** default DEFAULT_REQUEST_TIMEOUT_MS */
  timeoutMs?: number;
}

export interface ServeOptions {
  /** members of one queue group share the requests: each is answered by exactly one of them */
  queue?: string;
}

export interface BusStats {
  /** deliveries whose handler (subscriber or responder) threw or rejected */
  dropped: number;
  /** messages that failed decoding or their subject's schema, dropped before any handler */
  droppedMalformed: number;
  malformedByKind: Partial<Record<SubjectKind | 'other', number>>;
}

/**
 * The bus carries telemetry that does not move money (heartbeats, live logs, lease events) and
 * request/reply between roles (match). Subjects are dot-separated as in NATS; `*` matches one
 * token, `>` the rest. Telemetry is at-most-once: a subscriber that is down misses messages.
 */
export interface Bus {
  publish(subject: string, data: unknown): void;
  subscribe(pattern: string, handler: BusHandler): () => void;
  /**
   * Resolves with one responder's answer (a responder's `undefined` arrives as null). Rejects
   * with UNAVAILABLE when nothing serves the subject, TIMEOUT when no answer comes in time, and
   * with the responder's own code and message when it threw an AethirError.
   */
  request(subject: string, data: unknown, opts?: RequestOptions): Promise<unknown>;
  /** Answers requests on `subject` (wildcards allowed); returns stop. */
  serve(subject: string, handler: Responder, opts?: ServeOptions): () => void;
  stats(): BusStats;
}

/**
 * `bus.request` once more (`attempts` in all, default 2) when no answer came in time: a request in
 * flight to a queue-group member that died with it (an indexer killed mid-match) is lost, and the
 * group's next member answers the retry. Any other failure is final. Only for requests that may
 * be answered twice: a match (a second reservation for the same user expires unused) or a read.
 */
export async function requestRetrying(
  bus: Pick<Bus, 'request'>,
  subject: string,
  data: unknown,
  opts: RequestOptions & { attempts?: number } = {},
): Promise<unknown> {
  const attempts = opts.attempts ?? 2;
  for (let i = 1; ; i++) {
    try {
      return await bus.request(subject, data, opts);
    } catch (e) {
      if (i >= attempts || !isAethirError(e) || e.code !== 'TIMEOUT') throw e;
    }
  }
}

export interface MemoryBusOptions {
  /**
   * Check every message against its subject's schema, as NatsBus does. Off by default: in one
   * process the publishers are our own code and the check would only cost time.
   */
  validate?: boolean;
  requestTimeoutMs?: number;
}

interface Sub {
  pattern: string;
  handler: BusHandler;
}

interface Server {
  pattern: string;
  handler: Responder;
  queue: string | undefined;
}

/** In-process bus: synchronous delivery, handler errors isolated from the publisher. */
export class MemoryBus implements Bus {
  private readonly subs = new Set<Sub>();
  private readonly servers = new Set<Server>();
  private readonly roundRobin = new Map<string, number>();
  private readonly counters = new Counters();
  private readonly validate: boolean;
  private readonly requestTimeoutMs: number;

  constructor(opts: MemoryBusOptions = {}) {
    this.validate = opts.validate ?? false;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  get dropped(): number {
    return this.counters.dropped;
  }

  get droppedMalformed(): number {
    return this.counters.droppedMalformed;
  }

  stats(): BusStats {
    const c = this.counters;
    return {
      dropped: c.dropped,
      droppedMalformed: c.droppedMalformed,
      malformedByKind: { ...c.malformedByKind },
    };
  }

  publish(subject: string, data: unknown): void {
    if (this.validate) {
      const r = checkMessage(subject, data);
      if (!r.ok) return this.counters.malformed(r.kind);
      data = r.data;
    }
    for (const s of [...this.subs]) {
      if (!subjectMatches(s.pattern, subject)) continue;
      runHandler(s.handler, data, subject, () => this.counters.dropped++);
    }
  }

  subscribe(pattern: string, handler: BusHandler): () => void {
    const sub = { pattern, handler };
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }

  serve(subject: string, handler: Responder, opts: ServeOptions = {}): () => void {
    const server: Server = { pattern: subject, handler, queue: opts.queue };
    this.servers.add(server);
    return () => this.servers.delete(server);
  }

  request(subject: string, data: unknown, opts: RequestOptions = {}): Promise<unknown> {
    const chosen = this.choose(subject);
    if (chosen.length === 0) return Promise.reject(noResponder(subject));
    if (this.validate) {
      const r = checkMessage(subject, data);
      if (!r.ok) {
        this.counters.malformed(r.kind);
        return Promise.reject(
          new AethirError('INVALID_ARGUMENT', `malformed ${r.kind} request: ${r.reason}`),
        );
      }
      data = r.data;
    }
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(() => settle(() => reject(timedOut(subject, timeoutMs))), timeoutMs);
      for (const s of chosen) {
        // Never run a responder inside the requester's call stack: over NATS it never is.
        void Promise.resolve()
          .then(() => s.handler(data, subject))
          .then(
            (v) => settle(() => this.answer(subject, v, resolve, reject)),
            (e: unknown) => {
              if (!isAethirError(e)) this.counters.dropped++;
              settle(() => reject(fromReplyError(toReplyError(e))));
            },
          );
      }
    });
  }

  private answer(subject: string, v: unknown, resolve: (v: unknown) => void, reject: (e: unknown) => void) {
    const value = v === undefined ? null : v;
    if (!this.validate) return resolve(value);
    const r = checkReply(subject, value);
    if (r.ok) return resolve(r.data);
    this.counters.malformed(r.kind);
    reject(new AethirError('INTERNAL', `malformed reply on ${subject}: ${r.reason}`));
  }

  /** Every server without a queue group, and one member (round robin) of each queue group. */
  private choose(subject: string): Server[] {
    const out: Server[] = [];
    const groups = new Map<string, Server[]>();
    for (const s of this.servers) {
      if (!subjectMatches(s.pattern, subject)) continue;
      if (s.queue === undefined) {
        out.push(s);
        continue;
      }
      // As in NATS, a queue group is its name on one subscription subject.
      const key = `${s.pattern}\u0000${s.queue}`;
      const members = groups.get(key) ?? [];
      members.push(s);
      groups.set(key, members);
    }
    for (const [key, members] of groups) {
      const n = this.roundRobin.get(key) ?? 0;
      this.roundRobin.set(key, n + 1);
      out.push(members[n % members.length]!);
    }
    return out;
  }
}
