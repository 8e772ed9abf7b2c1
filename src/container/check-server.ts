import { execFile } from 'node:child_process';
import type { Bus } from '../bus/bus.js';
import { CheckRequestSchema } from '../bus/messages.js';
import { systemClock, type Clock } from '../core/clock.js';
import {
  cpuProverCommand,
  gpuProverCommand,
  signalTimers,
  spawnProver,
  type ProverChannel,
  type Received,
  type SpawnOptions,
  type Timers,
} from '../capacity/prover.js';
import { parseCheckerMessage, type RowsMessage } from '../capacity/protocol.js';
import { subjects } from '../bus/subjects.js';
import { CANARY_BLOCKS, validCanaryIndices } from '../core/volume-proof.js';
import { signAsContainer } from '../core/container-signature.js';
import type { KeyPair } from '../core/keys.js';
import {
  CAPACITY_START_SKEW_MS,
  capacityStartProblem,
  capacityStepProblem,
  storageChallengeId,
  type CapacityStartAuth,
  type CapacityStepAuth,
} from '../core/check-auth.js';

/**
 * The container's side of a checker's direct checks, served on `check.<container>` (request/reply):
 *
 * - `{op:'probe', checker, nonce}` → `{container, nonce, at, runningLeases?}` at once: a direct
 *   liveness probe; with the number of leases the host runs now, which the checkers' QoS look
 *   compares with the leases the ledger has open on it.
 * - `{op:'storage', checker, volume, nonce, blocks}` → `{container, volume, nonce, proof}`: the
 *   proof of storage over the volume's canary blocks `blocks` (or `{error}`: not held here).
 * - `{op:'capacity', checker, session, message}`: one step of a Proof-of-Capacity session
 *   (src/checker/capacity-bus-channel.ts is the checker's side). `{type:'start'}` starts the
 *   prover (by default the built-in CPU prover, as a child process, so the event loop stays free)
 *   and answers its ready message; a challenge or an open is written to the prover and answered
 *   with its next message (commitment, rows or error); `{type:'end'}` (or a checker error message)
 *   ends the session. Replies: `{message}`, `{closed, started}` when the prover exited, `{invalid,
 *   error}` when it printed something else than a protocol message, `{timeout}`, `{ended: true}`.
 *   A start may carry the checker's signature (`auth`, `admitStart` decides), and then every later
 *   step must carry its signature with that key (`step`, src/core/check-auth.ts), numbered above
 *   the last: nobody who sees the session's id on the bus can end or steer it.
 *
 * Sessions are keyed by (checker, session); at most `maxSessions` open at once, each closed after
 * `sessionIdleMs` without a step, after its last answer (rows or an error), and on stop. A
 * session holds the host's devices from its start until its prover is gone: two memory proofs
 * cannot both hold the claimed VRAM, and two compute proofs would each run at half speed, so by
 * default one session runs at a time (`deviceSessions`) and a later start waits its turn, at
 * most `deviceWaitMs`; a start that waited too long, or that finds `maxSessions` open, is answered
 * `{closed: 'busy: …', started: false}` (the checker takes it as not answered, not as a failed
 * proof). `admitStart` may refuse a start (the agent's: only the ledger's checkers, signed). A
 * spawned prover is always killed at the end. Nothing a requester sends can make the handler throw: bad
 * input is answered with `{message: {type:'error', code:'protocol', message}}` and the server
 * keeps serving.
 */

export interface CheckServerOptions {
  /** the time a probe answers (default: the system clock) */
  clock?: Clock;
  /** how many leases this host runs now: a probe's answer carries it (the checkers' QoS look) */
  runningLeases?: () => number;
  /**
   * the container's key and chain: a probe's answer is signed with them (checkers take no other,
   * src/core/container-signature.ts); none, or no chain yet: unsigned
   */
  signer?: { key: KeyPair; chainId: () => string | null };
  /**
   * a storage challenge's proof over a volume's canary blocks (docs/verification.md); none: the
   * host keeps no volumes and says so
   */
  storage?: (volume: string, nonce: string, blocks: number[]) => Promise<string>;
  /** a new prover per session: an open channel, or a command to spawn (default: cpuProverCommand()) */
  prover?: () => ProverChannel | readonly string[];
  /** capacity sessions open at once, running or waiting for the device (default 4) */
  maxSessions?: number;
  /** capacity sessions that run on the device at once (default 1: they take it in turn) */
  deviceSessions?: number;
  /** how long a start waits for the device before it is answered busy (default 40 s: below the checker's 60 s wait) */
  deviceWaitMs?: number;
  /**
   * whether a capacity session may start: null to admit it, else why not (answered `{closed:
   * 'refused: …', started: false}`). The agent admits only starts signed by a ledger checker
   * (src/core/check-auth.ts); none: every start is admitted. A storage challenge is admitted the
   * same way, as the start of session `storageChallengeId(…)` (answered `{error: 'refused: …'}`).
   */
  admitStart?: (start: {
    checker: string;
    session: string;
    auth: CapacityStartAuth | undefined;
  }) => string | null | Promise<string | null>;
  /** a session without a step for this long is closed (default 60 s) */
  sessionIdleMs?: number;
  log?: (msg: string) => void;
  /** idle sessions and waits for the prover (default: signalTimers, which never keep the process alive) */
  timers?: Timers;
  /** how long a prover may take to say ready (default 60 s) */
  startupTimeoutMs?: number;
  /** how long a prover may take to answer an open; a challenge gets its deadlineMs on top (default 30 s) */
  stepTimeoutMs?: number;
  /** the largest part of a rows answer in one reply, JSON bytes (default ROWS_PART_BYTES) */
  rowsPartBytes?: number;
  /** for a spawned prover (killAfterMs: how long it may take to exit once ended, default 2 s) */
  spawn?: Omit<SpawnOptions, 'timers'>;
}

export type CheckServerReply = Record<string, unknown>;

interface Session {
  key: string;
  label: string;
  channel: ProverChannel | null;
  busy: boolean;
  cancelIdle: () => void;
  /** opened rows not sent yet (a big answer goes in parts: `{type:'more'}` fetches the next) */
  pendingRows: RowsMessage['rows'][];
  /** a signed start's key: every later step must be signed with it (check-auth.ts) */
  publicKey?: string;
  /** the last signed step taken */
  lastSeq: number;
}

/**
 * The largest rows part one reply carries (JSON bytes, about). 32 opened rows of n = 16,384 are
 * ~4 MB: over NATS's default 1 MiB max_payload and the API's 1 MiB body limit for a container
 * joined over HTTP; so a big answer goes in parts of at most this size.
 */
export const ROWS_PART_BYTES = 256 * 1024;

/** Splits opened rows into parts of at most ~maxBytes of JSON each (one row per part at least). */
export function splitRows(rows: RowsMessage['rows'], maxBytes = ROWS_PART_BYTES): RowsMessage['rows'][] {
  const parts: RowsMessage['rows'][] = [];
  let part: RowsMessage['rows'] = [];
  let bytes = 0;
  for (const r of rows) {
    const size = JSON.stringify(r).length;
    if (part.length > 0 && bytes + size > maxBytes) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(r);
    bytes += size;
  }
  if (part.length > 0 || parts.length === 0) parts.push(part);
  return parts;
}

const protocolError = (message: string): CheckServerReply => ({
  message: { type: 'error', code: 'protocol', message },
});

const MAX_LINE_IN_REPLY = 1000;

/** Serves `check.<containerId>` on the bus; returns stop (which also ends every open session). */
export function serveChecks(bus: Bus, containerId: string, opts: CheckServerOptions = {}): () => void {
  const clock = opts.clock ?? systemClock;
  const timers = opts.timers ?? signalTimers;
  const maxSessions = opts.maxSessions ?? 4;
  const deviceSessions = Math.max(1, opts.deviceSessions ?? 1);
  const deviceWaitMs = opts.deviceWaitMs ?? 40_000;
  const idleMs = opts.sessionIdleMs ?? 60_000;
  const startupMs = opts.startupTimeoutMs ?? 60_000;
  const stepMs = opts.stepTimeoutMs ?? 30_000;
  const factory = opts.prover ?? (() => cpuProverCommand());
  const log = opts.log ?? (() => {});
  const sessions = new Map<string, Session>();
  let stopped = false;

  /** sessions being closed: an `end` that comes meanwhile answers once the prover is gone */
  const closing = new Map<string, Promise<void>>();

  /** the sessions holding the device, and the starts waiting for it (first come, first served) */
  const onDevice = new Set<Session>();
  const waiting: { s: Session; grant: (ok: boolean) => void }[] = [];
  const takeDevice = (s: Session): Promise<boolean> => {
    if (onDevice.size < deviceSessions && waiting.length === 0) {
      onDevice.add(s);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const entry = {
        s,
        grant: (ok: boolean) => {
          cancel();
          const i = waiting.indexOf(entry);
          if (i >= 0) waiting.splice(i, 1);
          if (ok) onDevice.add(s);
          resolve(ok);
        },
      };
      const cancel = timers.after(deviceWaitMs, () => entry.grant(false));
      waiting.push(entry);
    });
  };
  /** `s` gives the device back (or stops waiting for it); the next waiting session gets it */
  const leaveDevice = (s: Session) => {
    onDevice.delete(s);
    waiting.find((w) => w.s === s)?.grant(false);
    while (onDevice.size < deviceSessions && waiting.length > 0) waiting[0]!.grant(true);
  };

  const closeSession = (s: Session, why: string): Promise<void> => {
    if (sessions.get(s.key) !== s) return closing.get(s.key) ?? Promise.resolve();
    sessions.delete(s.key);
    s.cancelIdle();
    log(`capacity session ${s.label}: closed (${why})`);
    const done = (async () => {
      try {
        await s.channel?.close();
      } catch (e) {
        log(`capacity session ${s.label}: closing its prover failed: ${(e as Error).message}`);
      }
      // only once its prover is gone: the memory it held is free
      leaveDevice(s);
    })();
    closing.set(s.key, done);
    void done.then(() => {
      if (closing.get(s.key) === done) closing.delete(s.key);
    });
    return done;
  };

  const armIdle = (s: Session) => {
    s.cancelIdle();
    s.cancelIdle = timers.after(idleMs, () => {
      if (!s.busy) void closeSession(s, `idle for ${idleMs} ms`);
    });
  };

  const replyOf = (r: Received, timeoutMs: number): CheckServerReply => {
    switch (r.kind) {
      case 'message':
        return { message: r.message };
      case 'closed':
        // The container was reached: a prover that does not run there is the host's failure.
        return { closed: r.reason, started: true };
      case 'invalid':
        return { invalid: r.line.slice(0, MAX_LINE_IN_REPLY), error: r.error };
      case 'timeout':
        return { timeout: timeoutMs };
    }
  };

  /** Sends `m` (none: the start) and waits for the prover's next message. */
  const step = async (
    s: Session,
    channel: ProverChannel,
    m: Parameters<ProverChannel['send']>[0] | null,
    timeoutMs: number,
  ) => {
    s.busy = true;
    s.cancelIdle();
    let r: Received;
    try {
      if (m) channel.send(m);
      r = await channel.receive(timeoutMs);
    } finally {
      s.busy = false;
    }
    if (r.kind === 'message' && r.message.type === 'rows') {
      const [first, ...rest] = splitRows(r.message.rows, opts.rowsPartBytes);
      if (rest.length > 0 && sessions.get(s.key) === s) {
        s.pendingRows = rest;
        armIdle(s);
        return { message: { ...r.message, rows: first! }, more: rest.length };
      }
    }
    if (sessions.get(s.key) === s) {
      // rows are not the end: a memory proof may follow them; the checker's {type:'end'} (or the
      // idle timeout) closes the session
      const last = r.kind !== 'message' || r.message.type === 'error';
      if (last) void closeSession(s, r.kind === 'message' ? `answered ${r.message.type}` : r.kind);
      else armIdle(s);
    }
    return replyOf(r, timeoutMs);
  };

  /** The next part of a big rows answer. */
  const more = (s: Session): CheckServerReply => {
    const part = s.pendingRows.shift();
    if (!part) return protocolError(`capacity session ${s.label}: no more rows to send`);
    const left = s.pendingRows.length;
    armIdle(s);
    return { message: { type: 'rows', rows: part }, more: left };
  };

  const capacity = async (
    checker: string,
    id: string,
    message: Record<string, unknown>,
    auth?: CapacityStartAuth,
    stepAuth?: CapacityStepAuth,
  ) => {
    const key = `${checker}\u0000${id}`;
    const label = `${id} of ${checker}`;
    const existing = sessions.get(key);
    const type = message.type;

    // A signed session takes later steps only from the key that started it: anyone who sees its
    // id on the bus could otherwise end it, or answer for its checker, and fail the host's proof.
    if (type !== 'start' && existing?.publicKey) {
      const why = capacityStepProblem(
        existing.publicKey,
        stepAuth,
        { container: containerId, checker, session: id, message },
        existing.lastSeq,
      );
      if (why !== null) {
        log(`capacity session ${label}: a step was refused (${why})`);
        return protocolError(`capacity session ${id}: refused: ${why}`);
      }
      existing.lastSeq = stepAuth!.seq;
    }

    if (type === 'start') {
      if (existing) return protocolError(`capacity session ${id} is already started`);
      if (stopped) return protocolError('the container is stopping');
      if (opts.admitStart) {
        const why = await opts.admitStart({ checker, session: id, auth });
        if (why !== null) {
          log(`capacity session ${label}: refused (${why})`);
          return { closed: `refused: ${why}`, started: false };
        }
        if (sessions.has(key)) return protocolError(`capacity session ${id} is already started`);
        if (stopped) return protocolError('the container is stopping');
      }
      if (sessions.size >= maxSessions)
        return {
          closed: `busy: ${sessions.size} capacity sessions are open (at most ${maxSessions})`,
          started: false,
        };
      const s: Session = {
        key,
        label,
        channel: null,
        busy: true,
        cancelIdle: () => {},
        pendingRows: [],
        lastSeq: 0,
        ...(auth ? { publicKey: auth.publicKey } : {}),
      };
      sessions.set(key, s);
      if (!(await takeDevice(s))) {
        const open = sessions.get(key) === s;
        void closeSession(s, 'no turn on the device');
        return open
          ? { closed: `busy: the device was not free within ${deviceWaitMs} ms`, started: false }
          : { closed: 'the session ended before it had the device', started: false };
      }
      if (sessions.get(key) !== s) {
        leaveDevice(s);
        return { closed: 'the session ended before it had the device', started: false };
      }
      let channel: ProverChannel;
      try {
        const p = factory();
        channel = Array.isArray(p)
          ? spawnProver(p as readonly string[], { ...opts.spawn, timers })
          : (p as ProverChannel);
      } catch (e) {
        void closeSession(s, 'the prover did not start');
        return { closed: `cannot start the prover: ${(e as Error).message}`, started: true };
      }
      s.channel = channel;
      log(`capacity session ${label}: started`);
      return step(s, channel, null, startupMs);
    }

    if (type === 'end') {
      if (existing) await closeSession(existing, 'ended by the checker');
      else await closing.get(key);
      return { ended: true };
    }

    if (!existing || !existing.channel)
      return protocolError(`no capacity session ${id} of ${checker}: send {"type":"start"} first`);
    if (existing.busy) return protocolError(`capacity session ${id}: a step is already in progress`);
    if (type === 'more') return more(existing);
    const parsed = parseCheckerMessage(JSON.stringify(message));
    if (!parsed.ok) return protocolError(`capacity session ${id}: ${parsed.error}`);
    const m = parsed.message;
    if (m.type === 'error') {
      await closeSession(existing, `the checker gave up: ${m.message.slice(0, 200)}`);
      return { ended: true };
    }
    const timeoutMs =
      stepMs +
      (m.type === 'challenge' ||
      m.type === 'fill' ||
      m.type === 'read' ||
      m.type === 'prepare' ||
      m.type === 'work'
        ? (m.deadlineMs ?? 0)
        : 0);
    return step(existing, existing.channel, m, timeoutMs);
  };

  const handler = async (data: unknown): Promise<CheckServerReply> => {
    try {
      const parsed = CheckRequestSchema.safeParse(data);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
        return protocolError(`malformed check request: ${where}${issue?.message ?? 'invalid'}`);
      }
      const req = parsed.data;
      if (req.op === 'probe') {
        const answer = {
          container: containerId,
          nonce: req.nonce,
          at: clock.now(),
          ...(opts.runningLeases ? { runningLeases: opts.runningLeases() } : {}),
        };
        const chainId = opts.signer?.chainId();
        return opts.signer && chainId ? signAsContainer(opts.signer.key, 'probe', chainId, answer) : answer;
      }
      if (req.op === 'storage') {
        if (!validCanaryIndices(req.blocks))
          return { error: `blocks must be 1 to ${CANARY_BLOCKS} distinct numbers below ${CANARY_BLOCKS}` };
        if (!opts.storage) return { error: 'this host keeps no volumes' };
        if (opts.admitStart) {
          // a ledger checker's signed challenge, seen once: nobody else makes it read the volume
          const why = await opts.admitStart({
            checker: req.checker,
            session: storageChallengeId(req),
            auth: req.auth,
          });
          if (why !== null) {
            log(`storage challenge of ${req.checker.slice(0, 16)}: refused (${why})`);
            return { error: `refused: ${why}` };
          }
        }
        try {
          const proof = await opts.storage(req.volume, req.nonce, req.blocks);
          return { container: containerId, volume: req.volume, nonce: req.nonce, proof };
        } catch (e) {
          return { error: (e as Error).message.slice(0, 200) };
        }
      }
      return await capacity(req.checker, req.session, req.message, req.auth, req.step);
    } catch (e) {
      log(`check request failed: ${(e as Error)?.message ?? String(e)}`);
      return { message: { type: 'error', code: 'internal', message: 'the check server failed' } };
    }
  };

  const unserve = bus.serve(subjects.check(containerId), handler);
  return () => {
    if (stopped) return;
    stopped = true;
    unserve();
    for (const s of [...sessions.values()]) void closeSession(s, 'the container stops');
  };
}

export interface ProverChoice {
  argv: string[];
  kind: 'gpu' | 'cpu';
  /** why, in plain words (for the operator's log) */
  why: string;
}

/**
 * The prover this host answers capacity challenges with, unless its operator brings one: the GPU
 * prover (gpu_prover.py) where `python3` imports PyTorch and sees a CUDA device, else the built-in
 * CPU prover — which cannot meet a GPU class's deadline, so a GPU host without PyTorch fails its
 * capacity checks, and the log says why.
 */
export async function chooseProver(
  opts: { python?: string; timeoutMs?: number } = {},
): Promise<ProverChoice> {
  const python = opts.python ?? 'python3';
  const probe = 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)';
  const code = await new Promise<number | string>((resolve) => {
    execFile(python, ['-c', probe], { timeout: opts.timeoutMs ?? 60_000 }, (err) => {
      if (!err) resolve(0);
      else resolve(typeof err.code === 'number' ? err.code : (err.message.split('\n')[0] ?? 'failed'));
    });
  });
  if (code === 0) {
    try {
      return { argv: gpuProverCommand(python), kind: 'gpu', why: 'PyTorch sees a CUDA device' };
    } catch (e) {
      return { argv: cpuProverCommand(), kind: 'cpu', why: (e as Error).message };
    }
  }
  const why =
    code === 3
      ? 'PyTorch sees no CUDA device'
      : typeof code === 'number'
        ? `${python} cannot import torch (exit ${code})`
        : `${python}: ${code}`;
  return { argv: cpuProverCommand(), kind: 'cpu', why };
}

/**
 * `admitStart` for a host: a capacity session starts only when its start is signed by the
 * checker it names (src/core/check-auth.ts), within CAPACITY_START_SKEW_MS of this host's clock,
 * not seen before, and the checker is one of the ledger's (`checkers()`, kept for `refreshMs`;
 * asked again, at most every 5 s, when an address is not in it: a checker that just joined).
 */
export function ledgerCheckerGate(opts: {
  container: string;
  clock: Clock;
  checkers: () => Promise<readonly string[]>;
  refreshMs?: number;
}): NonNullable<CheckServerOptions['admitStart']> {
  const refreshMs = opts.refreshMs ?? 60_000;
  let known: { at: number; set: Set<string> } | null = null;
  const seen = new Map<string, number>();
  const checkersNow = async (address: string): Promise<Set<string>> => {
    const now = opts.clock.now();
    const stale =
      !known || now - known.at >= refreshMs || (!known.set.has(address) && now - known.at >= 5_000);
    if (stale) known = { at: now, set: new Set(await opts.checkers()) };
    return known!.set;
  };
  return async ({ checker, session, auth }) => {
    const now = opts.clock.now();
    const bad = capacityStartProblem(auth, { container: opts.container, checker, session }, now);
    if (bad) return bad;
    for (const [k, at] of seen) if (now - at > 2 * CAPACITY_START_SKEW_MS) seen.delete(k);
    const key = `${checker}\u0000${session}`;
    if (seen.has(key)) return 'this start was used before';
    let set: Set<string>;
    try {
      set = await checkersNow(checker);
    } catch (e) {
      return `the ledger's checkers could not be read: ${(e as Error).message.slice(0, 100)}`;
    }
    if (!set.has(checker)) return `${checker.slice(0, 16)} is not a checker of the ledger`;
    seen.set(key, now);
    return null;
  };
}
