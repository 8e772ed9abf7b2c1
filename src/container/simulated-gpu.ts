import type { Clock, ManualClock } from '../core/clock.js';
import type { ClassSpec } from '../capacity/classes.js';
import {
  bestComputeMs,
  bestWorkMs,
  honestWorkMs,
  bestFillMs,
  bestReadMs,
  heldShare,
  honestComputeMs,
  honestFillMs,
  honestReadMs,
} from '../capacity/margins.js';
import { tileBytes, type MemoryProofParams } from '../capacity/memory.js';
import type { WorkParams } from '../capacity/work.js';
import { CpuProverSession, type ProverMemory } from '../capacity/cpu-prover.js';
import type { ReadyMessage } from '../capacity/protocol.js';
import { handlerChannel, type ProverChannel } from '../capacity/prover.js';

/**
 * SIMULATED hardware, for tests and demos only: nothing here touches a GPU.
 *
 * A SimulatedGpuMemory is a device's memory as a counter that several provers in one process can
 * draw on, which is how tests model "two containers sharing one GPU": their provers reserve a
 * challenge's memoryMiB from the same device while they prove, so two challenged at the same
 * time cannot both hold what they claim. simulatedGpuProver() gives the in-process provers: the
 * CPU prover's kernel (CpuProverSession) that also reserves its memory from the device and holds
 * it until the session ends (and, as the CPU prover does, briefly allocates that much real RAM:
 * scale the device down, e.g. 512 MiB, in tests).
 *
 * The in-process prover computes on this process's event loop: it blocks it for the length of
 * one proof, which is fine for small n in tests (n = 128: milliseconds), never for production
 * (serveChecks' default prover is a child process).
 */

export class SimulatedGpuMemory implements ProverMemory {
  private used = 0;

  constructor(
    readonly totalMiB: number,
    /** what the simulated device calls itself in a prover's ready message */
    readonly name = `SIMULATED GPU (${totalMiB} MiB)`,
  ) {
    if (!(Number.isFinite(totalMiB) && totalMiB >= 0)) throw new RangeError('totalMiB must be ≥ 0');
  }

  /** takes `mib` if that much is free; false (and nothing taken) otherwise */
  reserve(mib: number): boolean {
    if (!(Number.isFinite(mib) && mib >= 0)) return false;
    if (this.used + mib > this.totalMiB) return false;
    this.used += mib;
    return true;
  }

  release(mib: number): void {
    if (!(Number.isFinite(mib) && mib > 0)) return;
    this.used = Math.max(0, this.used - mib);
  }

  freeMiB(): number {
    return this.totalMiB - this.used;
  }

  usedMiB(): number {
    return this.used;
  }
}

export interface InProcessProverOptions {
  /** the device it holds a challenge's memory from (none: only this host's RAM is checked) */
  memory?: ProverMemory;
  /** the prover's own clock (its elapsedMs only: the checker times with its own) */
  clock?: Clock;
  /** this host's free RAM in MiB (default: os.freemem()) */
  freeMemoryMiB?: () => number;
  /** fields of the ready message to replace (e.g. device) */
  ready?: Partial<Omit<ReadyMessage, 'type'>>;
  /** the throughput proof's rows it computes (default all): a prover that skips work, for tests */
  computeWorkRow?: (globalRow: number) => boolean;
}

/**
 * A ProverChannel to a CpuProverSession in this process (handlerChannel): a caller's send never
 * runs the proof inside its own call, but the proof itself still blocks the event loop while it
 * runs (see above). close() ends the session and gives its memory back.
 */
export function inProcessProverChannel(opts: InProcessProverOptions = {}): ProverChannel {
  const session = new CpuProverSession({
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.freeMemoryMiB ? { freeMemoryMiB: opts.freeMemoryMiB } : {}),
    ...(opts.memory ? { memory: opts.memory } : {}),
    ...(opts.computeWorkRow ? { computeWorkRow: opts.computeWorkRow } : {}),
  });
  return handlerChannel(
    { ...session.ready(), ...opts.ready },
    (m) => session.handle(m),
    () => session.close(),
  );
}

/** A prover factory for serveChecks whose provers hold their memory from `device` (SIMULATED). */
export function simulatedGpuProver(
  device: SimulatedGpuMemory,
  opts: Omit<InProcessProverOptions, 'memory'> = {},
): () => ProverChannel {
  return () =>
    inProcessProverChannel({
      ...opts,
      memory: device,
      ready: { prover: 'simulated-gpu', device: device.name, ...opts.ready },
    });
}

export interface SimulatedClassOptions {
  /** what the device really is: a class's published figures (CLASS_SPECS), or changed ones */
  spec: ClassSpec;
  /** the checker's clock: the device advances it by the time its work would take on `spec` */
  clock: ManualClock;
  /**
   * The full-size challenge the checker's deadlines are sized for (sizeFor(claim)). The device
   * proves the challenge it is sent for real (tests send small ones) and charges the time of this one.
   */
  nominal: { n: number; memoryProof?: MemoryProofParams; workProof?: WorkParams };
  /**
   * network jitter added to each timed answer, ms (default none): what the checker's clock sees on
   * top of the device's own time
   */
  jitterMs?: (phase: 'compute' | 'work' | 'fill' | 'read') => number;
  /**
   * 'stock': the shipped PyTorch prover's speed (margins.ts MODEL), an honest host; 'best':
   * hand-written kernels at the datasheet's peak, the way a cheater would make its part look bigger.
   */
  kernels?: 'stock' | 'best';
}

/**
 * A SIMULATED GPU of a class, on a simulated clock (tests only): a prover factory whose provers
 * compute every answer for real (CpuProverSession, so the checker verifies real rows and sums) and
 * advance `clock` by what the work of the nominal challenge takes on `spec` (margins.ts): the
 * compute proof, the fill and the read. A device with less memory than the nominal tiles holds
 * what fits and recomputes the rest when a read needs it, and is charged for that.
 */
export function simulatedClassProver(opts: SimulatedClassOptions): () => ProverChannel {
  const { spec, clock, nominal } = opts;
  const best = opts.kernels === 'best';
  const mp = nominal.memoryProof;
  const wp = nominal.workProof;
  const jitter = opts.jitterMs ?? (() => 0);
  const held = mp ? heldShare(spec.memoryBytes, tileBytes(mp)) : 1;
  const readMs = (p: MemoryProofParams) => {
    if (best) return bestReadMs(spec, p, held).ms;
    const extra = held < 1 ? bestReadMs(spec, p, held).ms - bestReadMs(spec, p, 1).ms : 0;
    return honestReadMs(spec, p.groups, p.perGroup) + extra;
  };
  return () => {
    const session = new CpuProverSession({ tilesToHold: (fill) => Math.floor(fill.tiles * held) });
    const ready: ReadyMessage = {
      ...session.ready(),
      prover: 'simulated-gpu',
      device: `SIMULATED ${spec.part}${best ? ' (best kernels)' : ''}`,
    };
    return handlerChannel(
      ready,
      (m) => {
        const out = session.handle(m);
        if (out.type === 'commitment')
          clock.advance(
            (best ? bestComputeMs(spec, nominal.n) : honestComputeMs(spec, nominal.n)) + jitter('compute'),
          );
        else if (out.type === 'work-root' && wp)
          clock.advance((best ? bestWorkMs(spec, wp) : honestWorkMs(spec, wp)) + jitter('work'));
        else if (out.type === 'filled' && mp)
          clock.advance(
            (best
              ? bestFillMs(spec, Math.floor(mp.tiles * held), mp.m, mp.depth)
              : honestFillMs(spec, Math.floor(mp.tiles * held), mp.m, mp.depth)) + jitter('fill'),
          );
        else if (out.type === 'read-root' && mp) clock.advance(readMs(mp) + jitter('read'));
        return out;
      },
      () => session.close(),
    );
  };
}
