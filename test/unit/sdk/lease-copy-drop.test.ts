/**
 * `aethir cp` on a dropped connection: a real WebSocket server speaking the lease-access protocol
 * (src/container/lease-access.ts) that cuts the connection in the middle of the archive. The copy
 * fails UNAVAILABLE, naming what went whole and what was cut; a download leaves only whole files.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack as tarPack } from 'tar-stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AethirError } from '../../../src/core/errors.js';
import { downloadFromLease, uploadToLease } from '../../../src/sdk/lease-session.js';

const dir = mkdtempSync(join(tmpdir(), 'aethir-cp-drop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    await new Promise((r) => s.close(r));
  }
});

/** A door whose session handler is `onSession`; resolves with the target to copy through. */
async function door(onSession: (ws: WebSocket, start: { type: string; path: string }) => void) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  servers.push(wss);
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => {
    ws.once('message', (d) => onSession(ws, JSON.parse(d.toString())));
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    api: `http://127.0.0.1:${port}`,
    lease: 'L1',
    token: 'not-checked-here',
    door: `http://127.0.0.1:${port}/x/L1`,
  };
}

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * seed) % 251));

describe('cp on a dropped connection', () => {
  it('upload: cut while the socket is full (the lease reads nothing); the error still names what went whole and what was cut', async () => {
    const src = join(dir, 'full');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.bin'), bytes(64 << 10, 5));
    writeFileSync(join(src, 'b.bin'), Buffer.alloc(48 << 20, 9));
    const t = await door((ws) => {
      // a lease that stops reading: the client's socket fills past its 4 MiB backpressure mark
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      setTimeout(() => ws.terminate(), 800);
    });
    const err = await uploadToLease(t, { localPath: src, remotePath: 'data' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AethirError);
    expect((err as AethirError).code).toBe('UNAVAILABLE');
    expect((err as AethirError).message).toMatch(/1 file sent whole .*the last: a\.bin; b\.bin was cut/);
  });

  it('upload: the socket is cut after 1.5 MiB; UNAVAILABLE names the whole files, the cut one, and says nothing resumes', async () => {
    const src = join(dir, 'up');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.bin'), bytes(1 << 20, 3));
    writeFileSync(join(src, 'b.bin'), bytes(4 << 20, 7));
    writeFileSync(join(src, 'c.txt'), 'never sent\n');
    let received = 0;
    const t = await door((ws) => {
      ws.on('message', (d: Buffer, binary) => {
        if (!binary) return;
        received += d.length;
        if (received > 1.5 * (1 << 20)) ws.terminate(); // the connection drops, no exit ever comes
      });
    });
    const err = await uploadToLease(t, { localPath: src, remotePath: 'data' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AethirError);
    const e = err as AethirError;
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(/dropped during the copy/);
    expect(e.message).toMatch(/1 file sent whole .*the last: a\.bin; b\.bin was cut/);
    expect(e.message).toMatch(/Nothing resumes by itself: run the same copy again/);
    expect(e.details?.copied).toMatchObject({
      direction: 'upload',
      files: 1,
      lastWhole: 'a.bin',
      cut: 'b.bin',
    });
  });

  it('download: the lease sends one whole file and part of the next, then the connection drops; the cut file is removed', async () => {
    const whole = bytes(200_000, 5);
    const t = await door((ws) => {
      const pk = tarPack();
      pk.entry({ name: 'out', type: 'directory' });
      pk.entry({ name: 'out/first.bin', size: whole.length }, whole);
      const cut = pk.entry({ name: 'out/second.bin', size: 1 << 20 });
      cut.write(bytes(300_000, 11));
      let sent = 0;
      pk.on('data', (c: Buffer) => {
        ws.send(Buffer.concat([Buffer.from([1]), c]));
        sent += c.length;
        // past the first file and into the second: the connection drops
        if (sent > 400_000) setTimeout(() => ws.terminate(), 50);
      });
    });
    const local = join(dir, 'down');
    const err = await downloadFromLease(t, { remotePath: 'out', localPath: local }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AethirError);
    const e = err as AethirError;
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(
      /1 file written whole here .*the last: out\/first\.bin; out\/second\.bin was cut and removed here/,
    );
    expect(readFileSync(join(local, 'first.bin')).equals(whole)).toBe(true);
    expect(existsSync(join(local, 'second.bin'))).toBe(false);
  });
});
