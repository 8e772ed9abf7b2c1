import type { Bus } from '../bus/bus.js';
import {
  signCapacityStart,
  signCapacityStep,
  type CapacityStartAuth,
  type CapacityStepAuth,
} from '../core/check-auth.js';
import type { Clock, Rng } from '../core/clock.js';
import { isAethirError } from '../core/errors.js';
import { subjects } from '../bus/subjects.js';
import { randomHex } from '../capacity/challenge.js';
import { parseProverMessage, type CheckerMessage } from '../capacity/protocol.js';
import {
  runCapacityCheck,
  ReceiveQueue,
  signalTimers,
  type CapacityCheckOptions,
  type CapacityResult,
  type ProverChannel,
  type Received,
  type Timers,
} from '../capacity/prover.js';

/**
 * Proof of Capacity over the bus: the prover runs on the container (src/container/check-server.ts
 * serves it on `check.<container>`), the checker reaches it with request/reply. Each request is
 * `{op:'capacity', checker, session, message}`, where `message` is a checker message of
 * protocol.ts or `{type:'start'}` / `{type:'end'}`; each reply is one of
 *
 *   {message: <prover message>}                the prover's answer (ready, commitment, rows, error)
 *   {closed: <reason>, started?: boolean}      the container's prover exited or could not start
 *   {invalid: <line>, error: <why>}            the container's prover printed a non-protocol line
 *   {timeout: <ms>}                            the container's prover did not answer in time
 *   {ended: true}                              the answer to {type:'end'}
 *
 * Timing: the deadline is timed by runCapacityCheck on the checker's own clock, from sending the
 * challenge to receiving the commitment, so the bus round trip (both ways, and any queueing on the
 * container) counts against the prover. runCapacityCheck's `rttMs` adds an allowance for it to the
 * deadline sizeFor computes; nothing the container reports (its own elapsedMs) is trusted.
 */

export interface BusProverChannelOptions {
  /** this checker's name (the container keeps one session per checker and session id) */
  checker: string;
  /** the session id: one subject token, unpredictable to the container (checkCapacityOverBus draws it) */
  session: string;
  timers?: Timers;
  /**
   * How long one request may wait for its reply on the bus (default 60 s: the start spawns the
   * prover). A challenge's request waits its deadlineMs on top; runCapacityCheck stops waiting at
   * the deadline by itself whatever this is.
   */
  requestTimeoutMs?: number;
  /**
   * the checker's signature on the start (src/core/check-auth.ts): a host admits only starts
   * signed by a ledger checker
   */
  auth?: CapacityStartAuth;
  /**
   * signs each later step (src/core/check-auth.ts, `signCapacityStep`): a host takes a signed
   * session's steps only from the key that started it
   */
  signStep?: (seq: number, message: Record<string, unknown>) => CapacityStepAuth;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** `end` is best effort: the container also closes idle sessions on its own */
const END_TIMEOUT_MS = 10_000;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const short = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);

/** the most parts a rows answer may come in (32 rows of the largest n fit in far fewer) */
const MAX_ROW_PARTS = 256;

/** How many more parts of a rows answer the container holds (`more` in its reply). */
function moreOf(reply: unknown): number {
  const m = isObj(reply) ? reply.more : undefined;
  return typeof m === 'number' && Number.isInteger(m) && m > 0 ? m : 0;
}

/** What a reply of the check server means to runCapacityCheck. */
export function receivedFromReply(reply: unknown): Received {
  let text: string;
  try {
    text = JSON.stringify(reply) ?? String(reply);
  } catch {
    text = String(reply);
  }
  if (!isObj(reply)) return { kind: 'invalid', line: short(text), error: 'the reply is not an object' };
  if ('message' in reply) {
    let line: string;
    try {
      line = JSON.stringify(reply.message) ?? 'undefined';
    } catch {
      return { kind: 'invalid', line: short(text), error: 'the reply message is not JSON' };
    }
    const parsed = parseProverMessage(line);
    return parsed.ok
      ? { kind: 'message', message: parsed.message }
      : { kind: 'invalid', line: short(line), error: parsed.error };
  }
  if (typeof reply.closed === 'string')
    return {
      kind: 'closed',
      reason: `on the container: ${short(reply.closed)}`,
      started: reply.started !== false,
    };
  if (typeof reply.invalid === 'string')
    return {
      kind: 'invalid',
      line: short(reply.invalid),
      error: typeof reply.error === 'string' ? short(reply.error) : 'invalid',
    };
  if (typeof reply.timeout === 'number') return { kind: 'timeout' };
  return { kind: 'invalid', line: short(text), error: 'not a capacity reply' };
}

class BusProverChannel implements ProverChannel {
  private readonly subject: string;
  private readonly timers: Timers;
  private readonly requestTimeoutMs: number;
  private readonly inbox: ReceiveQueue;
  /** steps go one after the other: a reply is delivered in the order its request was sent */
  private chain: Promise<void> = Promise.resolve();
  private started = false;
  /** the last step number signed (signStep) */
  private seq = 0;
  private closed: { reason: string; started: boolean } | null = null;
  private ended = false;

  constructor(
    private readonly bus: Bus,
    container: string,
    private readonly opts: BusProverChannelOptions,
  ) {
    this.subject = subjects.check(container);
    this.timers = opts.timers ?? signalTimers;
    this.inbox = new ReceiveQueue(this.timers);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.step({ type: 'start' }, this.requestTimeoutMs);
  }

  send(m: CheckerMessage): void {
    if (this.closed || this.ended) return;
    const timeoutMs =
      this.requestTimeoutMs +
      (m.type === 'challenge' ||
      m.type === 'fill' ||
      m.type === 'read' ||
      m.type === 'prepare' ||
      m.type === 'work'
        ? (m.deadlineMs ?? 0)
        : 0);
    this.step(m as unknown as Record<string, unknown>, timeoutMs);
  }

  receive(timeoutMs: number): Promise<Received> {
    return this.inbox.receive(timeoutMs, this.closed ? { kind: 'closed', ...this.closed } : null);
  }

  /** Sends {type:'end'} (best effort: errors are ignored) and stops delivering replies. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    if (!this.closed) this.closed = { reason: 'the checker closed the session', started: this.started };
    this.inbox.end({ kind: 'closed', ...this.closed });
    try {
      await this.request({ type: 'end' }, Math.min(this.requestTimeoutMs, END_TIMEOUT_MS));
    } catch {
      // nobody serving, or a slow container: it closes idle sessions on its own
    }
  }

  private request(message: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const auth =
      message.type === 'start'
        ? this.opts.auth
          ? { auth: this.opts.auth }
          : {}
        : this.opts.signStep
          ? { step: this.opts.signStep(++this.seq, message) }
          : {};
    return this.bus.request(
      this.subject,
      { op: 'capacity', checker: this.opts.checker, session: this.opts.session, message, ...auth },
      { timeoutMs },
    );
  }

  private step(message: Record<string, unknown>, timeoutMs: number): void {
    const first = !this.started && message.type === 'start';
    this.chain = this.chain.then(async () => {
      let r: Received;
      try {
        let reply = await this.request(message, timeoutMs);
        r = receivedFromReply(reply);
        // A big rows answer comes in parts (check-server.ts, ROWS_PART_BYTES): fetch the rest and
        // hand runCapacityCheck one rows message. At most MAX_ROW_PARTS parts: a container cannot
        // keep a checker asking forever.
        for (let parts = 1; r.kind === 'message' && r.message.type === 'rows' && moreOf(reply) > 0; parts++) {
          if (parts >= MAX_ROW_PARTS) {
            r = { kind: 'invalid', line: '', error: `the rows came in more than ${MAX_ROW_PARTS} parts` };
            break;
          }
          const rows = r.message.rows;
          reply = await this.request({ type: 'more' }, timeoutMs);
          const next = receivedFromReply(reply);
          r =
            next.kind === 'message' && next.message.type === 'rows'
              ? { kind: 'message', message: { type: 'rows', rows: [...rows, ...next.message.rows] } }
              : next;
        }
      } catch (e) {
        const why = isAethirError(e) ? `${e.code}: ${e.message}` : (e as Error)?.message || String(e);
        r = { kind: 'closed', reason: `the bus failed: ${why}`, started: !first };
      }
      if (first && r.kind !== 'closed') this.started = true;
      this.deliver(r);
    });
  }

  private deliver(r: Received): void {
    if (this.ended) return;
    if (r.kind === 'closed' && !this.closed) this.closed = { reason: r.reason, started: r.started };
    this.inbox.deliver(r);
  }
}

/**
 * A ProverChannel to the prover of `container`, served on `check.<container>` (see
 * src/container/check-server.ts). Opening it sends `{type:'start'}`; the reply (the prover's
 * ready message) is the first message received. Bus failures (UNAVAILABLE: nobody serves the
 * subject; TIMEOUT) are received as `closed`, `started: false` when the start itself failed
 * (runCapacityCheck then says 'spawn'), true after. close() sends `{type:'end'}`.
 */
export function busProverChannel(bus: Bus, container: string, opts: BusProverChannelOptions): ProverChannel {
  return new BusProverChannel(bus, container, opts);
}

export interface CapacityOverBusOptions extends Omit<CapacityCheckOptions, 'prover' | 'spawn'> {
  bus: Bus;
  container: string;
  /** this checker's name */
  checker: string;
  clock: Clock;
  rng: Rng;
  /** the session id (default: drawn from rng) */
  session?: string;
  requestTimeoutMs?: number;
  /** the checker's key: signs the session's start (hosts admit only starts signed by a ledger checker) */
  key?: { publicKey: string; secretKey: string };
}

/**
 * One capacity check of `container` over the bus: opens a session (its id drawn from `rng`), runs
 * runCapacityCheck through it and always ends the session. Never throws for the container's or
 * the bus's failures: they come back as a failed CapacityResult ('spawn' when nobody serves the
 * container's check subject).
 */
export async function checkCapacityOverBus(opts: CapacityOverBusOptions): Promise<CapacityResult> {
  const { bus, container, checker, session, requestTimeoutMs, key, ...check } = opts;
  const id = session ?? `cap-${randomHex(opts.rng, 12)}`;
  const channel = busProverChannel(bus, container, {
    checker,
    session: id,
    ...(key
      ? {
          auth: signCapacityStart(key, { container, checker, session: id, at: opts.clock.now() }),
          signStep: (seq: number, message: Record<string, unknown>) =>
            signCapacityStep(key, { container, checker, session: id, seq, message }),
        }
      : {}),
    ...(opts.timers ? { timers: opts.timers } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  });
  try {
    return await runCapacityCheck({ ...check, prover: channel });
  } finally {
    await channel.close();
  }
}
