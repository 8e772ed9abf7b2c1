import { createCanvas } from '@napi-rs/canvas';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newArena, step } from '../../../src/gaming/arena.js';
import { vp8Args } from '../../../src/gaming/host.js';
import { drawFrame, readMarker, seqAtLeast } from '../../../src/gaming/render.js';

function frame(width: number, height: number, f: number, keys: number[]) {
  const s = newArena('render');
  keys.forEach((k, i) => step(s, [{ seq: i + 1, keys: k }]));
  const c = createCanvas(width, height);
  const g = c.getContext('2d');
  drawFrame(g, s, f, width, height);
  return { s, rgba: g.getImageData(0, 0, width, height).data };
}

const FFMPEG = '/usr/bin/ffmpeg';

describe('the marker band: a frame says which it is, the last input, and where the player is', () => {
  it('reads back exactly from a drawn frame, at every resolution', () => {
    fc.assert(
      fc.property(
        fc.constantFrom([640, 360], [960, 540], [1280, 720]),
        fc.integer({ min: 0, max: 2 ** 20 - 1 }),
        fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 40 }),
        ([w, h], f, keys) => {
          const { s, rgba } = frame(w!, h!, f, keys);
          expect(readMarker(rgba, w!, h!)).toEqual({
            frame: f,
            seq: s.lastSeq,
            x: s.player.x,
            y: s.player.y,
          });
        },
      ),
      { numRuns: 25 },
    );
  });

  it.skipIf(!existsSync(FFMPEG))(
    'survives VP8 at the streaming settings, at a low bitrate (encoded and decoded by ffmpeg)',
    () => {
      const [w, h] = [640, 360];
      const frames = [0, 1, 2, 3].map((i) => frame(w, h, 1000 + i, [8, 8, 8, 2].slice(0, i + 1)));
      const vp8 = spawnSync(FFMPEG, [...vp8Args(w, h, 300, 1), '-f', 'ivf', '-'], {
        input: Buffer.concat(frames.map((f) => Buffer.from(f.rgba.buffer))),
      });
      expect(vp8.stderr.toString()).toBe('');
      expect(vp8.status).toBe(0);
      const back = spawnSync(
        FFMPEG,
        ['-loglevel', 'error', '-f', 'ivf', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'rgba', '-'],
        { input: vp8.stdout, maxBuffer: 64 << 20 },
      );
      expect(back.status).toBe(0);
      expect(back.stdout.length).toBe(w * h * 4 * frames.length);
      frames.forEach((f, i) => {
        const px = back.stdout.subarray(i * w * h * 4, (i + 1) * w * h * 4);
        expect(readMarker(px, w, h)).toEqual({
          frame: 1000 + i,
          seq: i + 1,
          x: f.s.player.x,
          y: f.s.player.y,
        });
      });
    },
  );

  it('a frame without the band is not read as one', () => {
    const grey = new Uint8ClampedArray(640 * 360 * 4).fill(128);
    expect(readMarker(grey, 640, 360)).toBe(null);
    expect(readMarker(new Uint8ClampedArray(640 * 360 * 4), 640, 360)).toBe(null); // all black: no magic
    expect(readMarker(new Uint8ClampedArray(640 * 360 * 4).fill(255), 640, 360)).toBe(null);
  });

  it('compares 16-bit sequence numbers across the wrap', () => {
    expect(seqAtLeast(5, 5)).toBe(true);
    expect(seqAtLeast(6, 5)).toBe(true);
    expect(seqAtLeast(4, 5)).toBe(false);
    expect(seqAtLeast(2, 0xfffe)).toBe(true);
    expect(seqAtLeast(0xfffe, 2)).toBe(false);
  });
});
