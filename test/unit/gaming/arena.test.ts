import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ARENA_H,
  ARENA_W,
  gamepadKeys,
  KEY,
  KEY_MASK,
  PLAYER_SIZE,
  PLAYER_SPEED,
  isGameInput,
  newArena,
  snapshot,
  step,
  TICK_MS,
  TickClock,
  type GameInput,
} from '../../../src/gaming/arena.js';

/** A run: inputs at given ticks, `ticks` ticks in all. */
function run(seed: string, ticks: number, inputs: Map<number, GameInput[]>) {
  const s = newArena(seed);
  for (let t = 0; t < ticks; t++) step(s, inputs.get(t) ?? []);
  return snapshot(s);
}

const inputsArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 119 }), fc.integer({ min: 0, max: 15 })), { maxLength: 30 })
  .map((xs) => {
    const m = new Map<number, GameInput[]>();
    xs.sort((a, b) => a[0] - b[0]).forEach(([tick, keys], i) =>
      m.set(tick, [...(m.get(tick) ?? []), { seq: i + 1, keys }]),
    );
    return m;
  });

describe('arena: a deterministic game', () => {
  it('the same seed and the same inputs at the same ticks give the same game, every time', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), inputsArb, (seed, inputs) => {
        expect(run(seed, 120, inputs)).toEqual(run(seed, 120, inputs));
      }),
      { numRuns: 60 },
    );
  });

  it('the player stays in the arena whatever is pressed', () => {
    fc.assert(
      fc.property(inputsArb, (inputs) => {
        const s = newArena('bounds');
        for (let t = 0; t < 120; t++) {
          step(s, inputs.get(t) ?? []);
          expect(s.player.x).toBeGreaterThanOrEqual(0);
          expect(s.player.y).toBeGreaterThanOrEqual(0);
          expect(s.player.x).toBeLessThanOrEqual(ARENA_W - PLAYER_SIZE);
          expect(s.player.y).toBeLessThanOrEqual(ARENA_H - PLAYER_SIZE);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('a held key moves the player by its speed each tick, from the tick the input arrives', () => {
    const s = newArena('move');
    const x0 = s.player.x;
    const y0 = s.player.y;
    step(s);
    expect([s.player.x, s.player.y]).toEqual([x0, y0]);
    step(s, [{ seq: 1, keys: KEY.right | KEY.down }]);
    expect([s.player.x, s.player.y, s.lastSeq]).toEqual([x0 + PLAYER_SPEED, y0 + PLAYER_SPEED, 1]);
    step(s);
    expect(s.player.x).toBe(x0 + 2 * PLAYER_SPEED);
    step(s, [{ seq: 2, keys: 0 }]);
    step(s);
    expect([s.player.x, s.lastSeq, s.tick]).toEqual([x0 + 2 * PLAYER_SPEED, 2, 5]);
  });

  it('an input older than the last applied one (delivered late) changes nothing', () => {
    const s = newArena('late');
    step(s, [{ seq: 5, keys: KEY.left }]);
    const x = s.player.x;
    step(s, [{ seq: 3, keys: KEY.right }]);
    expect(s.keys).toBe(KEY.left);
    expect(s.lastSeq).toBe(5);
    expect(s.player.x).toBe(x - PLAYER_SPEED);
  });

  it('different seeds give different arenas', () => {
    expect(snapshot(newArena('a')).orbs).not.toEqual(snapshot(newArena('b')).orbs);
  });

  it('takes only well-formed inputs from the network', () => {
    expect(isGameInput({ seq: 1, keys: 15 })).toBe(true);
    for (const bad of [
      null,
      'x',
      [],
      { seq: 0, keys: 1 },
      { seq: -1, keys: 1 },
      { seq: 1.5, keys: 1 },
      { seq: 2 ** 31, keys: 1 },
      { seq: 1, keys: 16 },
      { seq: 1, keys: -1 },
      { seq: '1', keys: 1 },
      { seq: 1 },
      { seq: Number.NaN, keys: 1 },
      // a pointer: both coordinates, integers inside the arena, nothing else
      { seq: 1, keys: 0, px: 10 },
      { seq: 1, keys: 0, py: 10 },
      { seq: 1, keys: 0, px: -1, py: 10 },
      { seq: 1, keys: 0, px: ARENA_W + 1, py: 10 },
      { seq: 1, keys: 0, px: 10, py: ARENA_H + 1 },
      { seq: 1, keys: 0, px: 10.5, py: 10 },
      { seq: 1, keys: 0, px: '10', py: 10 },
      { seq: 1, keys: 0, px: 1e308, py: 10 },
      { seq: 1, keys: 0, cheat: true },
      { seq: 1, keys: 0, __proto__: { px: 1 }, constructor: 1 },
    ])
      expect(isGameInput(bad)).toBe(false);
    expect(isGameInput({ seq: 1, keys: 0, px: 0, py: ARENA_H })).toBe(true);
  });

  it('a held pointer draws the player towards it, at its speed, and stops on it; a key overrides it', () => {
    const s = newArena('pointer');
    const [x0, y0] = [s.player.x, s.player.y];
    const cx = x0 + PLAYER_SIZE / 2;
    const cy = y0 + PLAYER_SIZE / 2;
    // held 30 units left of and 5 below the player's centre
    step(s, [{ seq: 1, keys: 0, px: cx - 30, py: cy + 5 }]);
    expect([s.player.x, s.player.y]).toEqual([x0 - PLAYER_SPEED, y0 + 5]);
    step(s);
    step(s);
    step(s);
    expect([s.player.x, s.player.y]).toEqual([x0 - 30, y0 + 5]); // on it: it stays
    // a key held wins over the pointer
    step(s, [{ seq: 2, keys: KEY.right, px: cx - 30, py: cy + 5 }]);
    expect(s.player.x).toBe(x0 - 30 + PLAYER_SPEED);
    // released (no pointer, no key): it stays
    step(s, [{ seq: 3, keys: 0 }]);
    step(s);
    expect([s.player.x, s.target, s.lastSeq]).toEqual([x0 - 30 + PLAYER_SPEED, null, 3]);
  });

  it('the same pointer inputs give the same game (integer state, whatever the target)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 59 }),
            fc.integer({ min: 0, max: ARENA_W }),
            fc.integer({ min: 0, max: ARENA_H }),
          ),
          { maxLength: 20 },
        ),
        (xs) => {
          const play = () => {
            const s = newArena('p');
            const byTick = new Map(xs.map(([t, px, py], i) => [t, { seq: i + 1, keys: 0, px, py }]));
            for (let t = 0; t < 60; t++) {
              const i = byTick.get(t);
              step(s, i ? [i] : []);
              expect(Number.isInteger(s.player.x) && Number.isInteger(s.player.y)).toBe(true);
            }
            return snapshot(s);
          };
          expect(play()).toEqual(play());
        },
      ),
      { numRuns: 40 },
    );
  });
});

/**
 * Drives a TickClock as the host does: a tick at its slot; an input pulls the next tick forward at
 * once when the clock allows it, else at the clock's earliest. Returns the tick times and, for each
 * input, how long it waited.
 */
function drive(arrivals: number[], until: number) {
  const c = new TickClock(0);
  const ticks: number[] = [];
  const waits: number[] = [];
  const queue = [...arrivals].sort((a, b) => a - b);
  let waiting: number[] = [];
  const tickAt = (t: number) => {
    ticks.push(t);
    for (const a of waiting) waits.push(t - a);
    waiting = [];
    c.ticked(t);
  };
  for (;;) {
    const at = waiting.length ? Math.max(c.earliest, waiting[0]!) : c.due;
    const next = queue[0];
    if (next !== undefined && next < at) {
      queue.shift();
      waiting.push(next);
      if (c.mayPull(next)) tickAt(next);
    } else if (at <= until) tickAt(at);
    else break;
  }
  return { ticks, waits };
}

describe('TickClock: an input pulls the next tick forward, the game stays at 30 ticks a second', () => {
  const arrivalsArb = fc.array(fc.double({ min: 0, max: 3000, noNaN: true }), { maxLength: 400 });

  it('never more than one tick ahead of the 30 Hz grid, however many inputs come, and never behind it', () => {
    fc.assert(
      fc.property(arrivalsArb, (arrivals) => {
        const { ticks } = drive(arrivals, 2990);
        ticks.forEach((t, i) => {
          // by the time of its tick i + 1 ticks have run: at most the slots begun (floor(t/T) + 1) + 1
          expect(i + 1).toBeLessThanOrEqual(Math.floor(t / TICK_MS + 1e-9) + 2);
        });
        // and none is missed: by the end, every slot of the grid has had its tick
        expect(ticks.length).toBeGreaterThanOrEqual(Math.floor(2990 / TICK_MS) + 1);
        expect(ticks.length).toBeLessThanOrEqual(Math.floor(2990 / TICK_MS) + 2);
        for (let i = 1; i < ticks.length; i++) expect(ticks[i]!).toBeGreaterThanOrEqual(ticks[i - 1]!);
      }),
      { numRuns: 200 },
    );
  });

  it('an input waits at most a tick (never longer than on the plain grid), and not at all when it comes alone', () => {
    fc.assert(
      fc.property(arrivalsArb, (arrivals) => {
        const { waits } = drive(arrivals, 3100);
        expect(waits).toHaveLength(arrivals.length);
        for (const w of waits) expect(w).toBeLessThanOrEqual(TICK_MS + 1e-9);
      }),
      { numRuns: 200 },
    );
    // inputs 135 ms apart (a player's key presses): each is applied the moment it arrives
    const alone = Array.from({ length: 20 }, (_, i) => 10 + i * 135.3);
    expect(drive(alone, 3000).waits).toEqual(alone.map(() => 0));
    // a second input right behind the first waits until the game is no longer ahead (the next
    // slot begins, at T), not for the slot after
    const { waits, ticks } = drive([1, 2], 100);
    expect(waits[0]).toBe(0);
    expect(waits[1]).toBeCloseTo(TICK_MS - 2, 6);
    expect(ticks.slice(0, 4)).toEqual([0, 1, TICK_MS, 3 * TICK_MS]);
  });

  it('after a stall it does not catch up in a burst', () => {
    const c = new TickClock(0);
    c.ticked(0);
    c.ticked(1000); // the tick due at 33 ran at 1000
    expect(c.due).toBe(1000);
    expect(c.mayPull(1000 - TICK_MS)).toBe(true);
    c.ticked(1000);
    expect(c.due).toBeCloseTo(1000 + TICK_MS, 6);
    expect(c.mayPull(1000)).toBe(true);
    c.ticked(1000); // pulled
    expect(c.mayPull(1000 + TICK_MS - 0.1)).toBe(false);
  });
});

describe('gamepadKeys: a gamepad as the same keys', () => {
  const pad = (axes: number[], pressed: number[] = []) => ({
    axes,
    buttons: Array.from({ length: 17 }, (_, i) => ({ pressed: pressed.includes(i) })),
  });
  it('the d-pad and the left stick past its dead zone; pads add up; nothing held at rest', () => {
    expect(gamepadKeys([])).toBe(0);
    expect(gamepadKeys([null, pad([0.2, -0.3])])).toBe(0);
    expect(gamepadKeys([pad([0, 0], [12])])).toBe(KEY.up);
    expect(gamepadKeys([pad([0, 0], [13, 15])])).toBe(KEY.down | KEY.right);
    expect(gamepadKeys([pad([-0.9, 0.8])])).toBe(KEY.left | KEY.down);
    expect(gamepadKeys([pad([0, 0], [14]), pad([0, -1])])).toBe(KEY.left | KEY.up);
    // other buttons and axes (the right stick) move nothing
    expect(gamepadKeys([pad([0, 0, 1, 1], [0, 1, 2, 3, 16])])).toBe(0);
  });
  it('whatever a pad reports (odd values, short or missing arrays), an input the host takes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.option(
            fc.record({
              axes: fc.array(fc.oneof(fc.double(), fc.constant(Number.NaN)), { maxLength: 6 }),
              buttons: fc.array(fc.record({ pressed: fc.boolean() }), { maxLength: 20 }),
            }),
          ),
          { maxLength: 4 },
        ),
        (pads) => {
          const keys = gamepadKeys(pads);
          expect(Number.isInteger(keys) && keys >= 0 && keys <= KEY_MASK).toBe(true);
          expect(isGameInput({ seq: 1, keys })).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
