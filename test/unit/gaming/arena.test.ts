import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ARENA_H,
  ARENA_W,
  KEY,
  PLAYER_SIZE,
  PLAYER_SPEED,
  isGameInput,
  newArena,
  snapshot,
  step,
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
