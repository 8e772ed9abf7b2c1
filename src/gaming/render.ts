import { ARENA_H, ARENA_W, DRONE_R, ORB_R, PLAYER_SIZE, type ArenaState } from './arena.js';

/**
 * Draws an arena frame on a 2D canvas (the host's @napi-rs/canvas, or a browser's canvas), with a
 * machine-readable band along the top: 64 black or white cells that say which frame this is, the
 * last input applied and where the player is. The band survives lossy video coding (each cell is
 * W/64 pixels wide, a 30th of the height tall, black or white), so whoever receives the video can
 * read it back from a decoded frame (`readMarker`): the console measures input-to-photon latency
 * with it, tests check that a key press moved the player.
 *
 * Browser-safe (no Node imports).
 */

/** The part of a 2D context this draws with (the DOM's and @napi-rs/canvas's both have it). */
export interface Ctx2D {
  fillStyle: unknown;
  font: string;
  fillRect(x: number, y: number, w: number, h: number): void;
  beginPath(): void;
  arc(x: number, y: number, r: number, a0: number, a1: number): void;
  fill(): void;
  fillText(text: string, x: number, y: number): void;
}

export interface Marker {
  /** frame number, modulo 2^20 */
  frame: number;
  /** last input applied, modulo 2^16 */
  seq: number;
  /** the player's top-left corner, game units */
  x: number;
  y: number;
}

export const MARKER_CELLS = 64;
const MAGIC = 0b1010;
const FIELDS: Array<[keyof Marker | 'magic', number]> = [
  ['magic', 4],
  ['frame', 20],
  ['seq', 16],
  ['x', 12],
  ['y', 12],
];

/** The band's height in pixels for a frame `height` pixels tall. */
export const bandHeight = (height: number) => Math.max(8, Math.round(height / 30));

function bits(m: Marker): number[] {
  const out: number[] = [];
  for (const [name, n] of FIELDS) {
    const v = name === 'magic' ? MAGIC : m[name] % 2 ** n;
    for (let b = n - 1; b >= 0; b--) out.push(Math.floor(v / 2 ** b) % 2);
  }
  return out;
}

export function drawFrame(g: Ctx2D, s: ArenaState, frame: number, width: number, height: number): void {
  const sx = width / ARENA_W;
  const sy = height / ARENA_H;
  g.fillStyle = '#0b1020';
  g.fillRect(0, 0, width, height);
  // a grid, so motion is visible
  g.fillStyle = '#18213d';
  for (let x = 0; x < ARENA_W; x += 80) g.fillRect(x * sx, 0, Math.max(1, sx), height);
  for (let y = 0; y < ARENA_H; y += 80) g.fillRect(0, y * sy, width, Math.max(1, sy));
  g.fillStyle = '#ffd23f';
  for (const o of s.orbs) {
    g.beginPath();
    g.arc(o.x * sx, o.y * sy, ORB_R * sx, 0, Math.PI * 2);
    g.fill();
  }
  g.fillStyle = '#ff4d6d';
  for (const d of s.drones) {
    g.beginPath();
    g.arc(d.x * sx, d.y * sy, DRONE_R * sx, 0, Math.PI * 2);
    g.fill();
  }
  g.fillStyle = '#3ddc97';
  g.fillRect(s.player.x * sx, s.player.y * sy, PLAYER_SIZE * sx, PLAYER_SIZE * sy);
  const band = bandHeight(height);
  g.fillStyle = '#e6ebff';
  g.font = `${Math.max(10, Math.round(height / 28))}px sans-serif`;
  g.fillText(`frame ${frame}  score ${s.score}  hits ${s.hits}`, 10 * sx, band + Math.round(height / 22));
  // the marker band
  g.fillStyle = '#000000';
  g.fillRect(0, 0, width, band);
  g.fillStyle = '#ffffff';
  const cell = width / MARKER_CELLS;
  bits({ frame, seq: s.lastSeq, x: Math.round(s.player.x), y: Math.round(s.player.y) }).forEach((b, i) => {
    if (b) g.fillRect(Math.round(i * cell), 0, Math.round((i + 1) * cell) - Math.round(i * cell), band);
  });
}

/**
 * Reads the marker band back from RGBA pixels of a frame (at least its top band): null when the
 * band is not there (not an arena frame, or too damaged).
 */
export function readMarker(rgba: ArrayLike<number>, width: number, height: number): Marker | null {
  const band = bandHeight(height);
  const cell = width / MARKER_CELLS;
  const row = Math.floor(band / 2);
  const v: number[] = [];
  for (let i = 0; i < MARKER_CELLS; i++) {
    const x = Math.floor(i * cell + cell / 2);
    const p = (row * width + x) * 4;
    const lum = (rgba[p]! + rgba[p + 1]! + rgba[p + 2]!) / 3;
    // far from both black and white: not a marker (or too damaged to trust)
    if (lum > 80 && lum < 176) return null;
    v.push(lum >= 128 ? 1 : 0);
  }
  const out: Record<string, number> = {};
  let at = 0;
  for (const [name, n] of FIELDS) {
    let x = 0;
    for (let b = 0; b < n; b++) x = x * 2 + v[at++]!;
    out[name] = x;
  }
  if (out.magic !== MAGIC) return null;
  return { frame: out.frame!, seq: out.seq!, x: out.x!, y: out.y! };
}

/** `a` is after `b` in a 16-bit sequence space that wraps (the marker's seq field). */
export function seqAtLeast(a: number, b: number): boolean {
  return ((a - b) & 0xffff) < 0x8000;
}
