import { SeededRng, type Rng } from '../core/clock.js';

/**
 * Arena: a small real-time 2D game of our own, the game the network streams. The player (a
 * square) moves with the arrow keys or WASD, collects orbs and dodges drones that bounce around
 * the arena. Fixed tick, integer state, a seeded Rng: the same seed and the same inputs at the
 * same ticks give the same frames on every machine (tests and the bench rely on it).
 *
 * Browser-safe (no Node imports): the console runs the same game in the page as the latency floor.
 */

/** arena size in game units; frames are drawn at any resolution (see render.ts) */
export const ARENA_W = 1280;
export const ARENA_H = 720;
export const TICK_HZ = 30;
export const TICK_MS = 1000 / TICK_HZ;
export const PLAYER_SIZE = 40;
export const PLAYER_SPEED = 12;
const ORB_R = 12;
const DRONE_R = 18;
const ORBS = 5;
const DRONES = 3;

/** keys held, as a bit mask */
export const KEY = { up: 1, down: 2, left: 4, right: 8 } as const;
export const KEY_MASK = 15;

/**
 * One input from the player: the keys held from now on, where a pointer (mouse button or touch)
 * is held if one is, and its sequence number.
 */
export interface GameInput {
  /** 1, 2, 3...: the game draws the last applied one into each frame (input-to-photon) */
  seq: number;
  /** KEY bits */
  keys: number;
  /**
   * a pointer held down at this point of the arena (game units): the player heads for it while no
   * key is held. Absent: no pointer is held (released, or never pressed).
   */
  px?: number;
  py?: number;
}

export interface ArenaState {
  tick: number;
  player: { x: number; y: number };
  keys: number;
  /** where a held pointer is (game units), or null */
  target: { x: number; y: number } | null;
  /** the last input applied (0: none yet) */
  lastSeq: number;
  score: number;
  hits: number;
  orbs: Array<{ x: number; y: number }>;
  drones: Array<{ x: number; y: number; vx: number; vy: number }>;
  rng: Rng;
}

export function newArena(seed: number | string): ArenaState {
  const rng = new SeededRng(seed);
  const drones = Array.from({ length: DRONES }, () => ({
    x: rng.int(DRONE_R, ARENA_W - DRONE_R),
    y: rng.int(DRONE_R + 60, ARENA_H - DRONE_R),
    vx: rng.pick([-7, -5, 5, 7]),
    vy: rng.pick([-6, -4, 4, 6]),
  }));
  const s: ArenaState = {
    tick: 0,
    player: { x: (ARENA_W - PLAYER_SIZE) / 2, y: (ARENA_H - PLAYER_SIZE) / 2 },
    keys: 0,
    target: null,
    lastSeq: 0,
    score: 0,
    hits: 0,
    orbs: [],
    drones,
    rng,
  };
  for (let i = 0; i < ORBS; i++) s.orbs.push(spawnOrb(s));
  return s;
}

function spawnOrb(s: ArenaState): { x: number; y: number } {
  return { x: s.rng.int(ORB_R, ARENA_W - ORB_R), y: s.rng.int(ORB_R + 60, ARENA_H - ORB_R) };
}

/** What the page reads of a gamepad (the Gamepad API's `Gamepad`, standard mapping). */
export interface PadState {
  axes: readonly number[];
  buttons: ReadonlyArray<{ pressed: boolean }>;
}

/** how far a stick must lean before it counts as held (sticks rest a little off centre) */
export const STICK_DEAD_ZONE = 0.5;

/**
 * The arena's keys held on gamepads (the Gamepad API's standard mapping): the d-pad (buttons 12 to
 * 15: up, down, left, right) or the left stick (axes 0 and 1) leaning past the dead zone; several
 * pads add up. The result is an input's `keys`, checked by the host like any other.
 */
export function gamepadKeys(pads: ReadonlyArray<PadState | null | undefined>): number {
  let keys = 0;
  for (const p of pads) {
    if (!p) continue;
    const on = (i: number) => p.buttons[i]?.pressed === true;
    const [x, y] = [p.axes[0] ?? 0, p.axes[1] ?? 0];
    if (on(12) || y < -STICK_DEAD_ZONE) keys |= KEY.up;
    if (on(13) || y > STICK_DEAD_ZONE) keys |= KEY.down;
    if (on(14) || x < -STICK_DEAD_ZONE) keys |= KEY.left;
    if (on(15) || x > STICK_DEAD_ZONE) keys |= KEY.right;
  }
  return keys;
}

/** Whether a value from the network is an input the game takes (anything else is ignored). */
export function isGameInput(v: unknown): v is GameInput {
  if (typeof v !== 'object' || v === null) return false;
  const { seq, keys, px, py, ...rest } = v as Record<string, unknown>;
  const within = (n: unknown, hi: number) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= hi;
  return (
    Object.keys(rest).length === 0 &&
    Number.isSafeInteger(seq) &&
    (seq as number) > 0 &&
    (seq as number) < 2 ** 31 &&
    Number.isInteger(keys) &&
    (keys as number) >= 0 &&
    (keys as number) <= KEY_MASK &&
    // a pointer is both coordinates, inside the arena, or neither
    ((px === undefined && py === undefined) || (within(px, ARENA_W) && within(py, ARENA_H)))
  );
}

/**
 * One tick: the inputs that arrived since the last tick are applied in order (an input older
 * than the last applied one is ignored: the data channel may deliver late), then the world moves.
 */
export function step(s: ArenaState, inputs: readonly GameInput[] = []): ArenaState {
  for (const i of inputs) {
    if (i.seq <= s.lastSeq) continue;
    s.keys = i.keys;
    s.target = i.px !== undefined && i.py !== undefined ? { x: i.px, y: i.py } : null;
    s.lastSeq = i.seq;
  }
  const k = s.keys;
  if (k !== 0 || !s.target) {
    const dx = (k & KEY.right ? 1 : 0) - (k & KEY.left ? 1 : 0);
    const dy = (k & KEY.down ? 1 : 0) - (k & KEY.up ? 1 : 0);
    s.player.x = clamp(s.player.x + dx * PLAYER_SPEED, 0, ARENA_W - PLAYER_SIZE);
    s.player.y = clamp(s.player.y + dy * PLAYER_SPEED, 0, ARENA_H - PLAYER_SIZE);
  } else {
    // towards the held pointer, at most the player's speed on each axis, stopping on it
    const toX = s.target.x - (s.player.x + PLAYER_SIZE / 2);
    const toY = s.target.y - (s.player.y + PLAYER_SIZE / 2);
    s.player.x = clamp(s.player.x + clamp(toX, -PLAYER_SPEED, PLAYER_SPEED), 0, ARENA_W - PLAYER_SIZE);
    s.player.y = clamp(s.player.y + clamp(toY, -PLAYER_SPEED, PLAYER_SPEED), 0, ARENA_H - PLAYER_SIZE);
  }
  const cx = s.player.x + PLAYER_SIZE / 2;
  const cy = s.player.y + PLAYER_SIZE / 2;
  for (let i = 0; i < s.orbs.length; i++) {
    const o = s.orbs[i]!;
    if (Math.abs(o.x - cx) <= PLAYER_SIZE / 2 + ORB_R && Math.abs(o.y - cy) <= PLAYER_SIZE / 2 + ORB_R) {
      s.score++;
      s.orbs[i] = spawnOrb(s);
    }
  }
  for (const d of s.drones) {
    d.x += d.vx;
    d.y += d.vy;
    if (d.x < DRONE_R || d.x > ARENA_W - DRONE_R) d.vx = -d.vx;
    if (d.y < DRONE_R + 60 || d.y > ARENA_H - DRONE_R) d.vy = -d.vy;
    d.x = clamp(d.x, DRONE_R, ARENA_W - DRONE_R);
    d.y = clamp(d.y, DRONE_R + 60, ARENA_H - DRONE_R);
    if (Math.abs(d.x - cx) <= PLAYER_SIZE / 2 + DRONE_R && Math.abs(d.y - cy) <= PLAYER_SIZE / 2 + DRONE_R) {
      s.hits++;
      d.vx = -d.vx;
      d.vy = -d.vy;
    }
  }
  s.tick++;
  return s;
}

/**
 * When the game ticks: on a fixed 30 Hz grid, except that an input may pull the next tick forward
 * to the moment it arrives, so its effect is drawn at once instead of up to a tick later. A pulled
 * tick takes the grid's next slot (the tick after it waits for the slot after that), so the game
 * runs at 30 ticks a second on average and never more than one tick ahead of the grid: by any time,
 * at most one tick more than the grid's slots begun. An input that comes while the game is already
 * a tick ahead is applied as soon as it no longer is (`earliest`, at most a tick later: never
 * later than on the plain grid). What a tick does is unchanged: the same inputs at the same ticks
 * give the same frames. Times are the caller's clock, in ms.
 */
export class TickClock {
  /** when the next tick's slot on the grid begins */
  private slot: number;
  constructor(
    now: number,
    readonly periodMs = TICK_MS,
  ) {
    this.slot = now;
  }
  /** when the next tick is due, unless an input pulls it forward */
  get due(): number {
    return this.slot;
  }
  /** the earliest an input may pull the next tick: when the game is no longer ahead of the grid */
  get earliest(): number {
    return this.slot - this.periodMs;
  }
  /** whether an input arriving `now` may run the next tick at once */
  mayPull(now: number): boolean {
    return now >= this.earliest;
  }
  /** a tick ran at `now` (due, or pulled): the next one's slot is a period on */
  ticked(now: number): void {
    this.slot += this.periodMs;
    if (now - this.slot > 5 * this.periodMs) this.slot = now; // behind (a stall): no burst to catch up
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** The state without its Rng, for comparing runs. */
export function snapshot(s: ArenaState): Omit<ArenaState, 'rng'> {
  const { rng: _rng, ...rest } = s;
  return JSON.parse(JSON.stringify(rest));
}

export { ORB_R, DRONE_R };
