import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GameHost, h264Args, pickEncoder } from '../../../src/gaming/host.js';

/** The game host's signalling port, attacked: only the container's endpoint proxy exposes it, but
 * what reaches it is still a stranger's input. */
describe('the game host refuses bad signalling and changes nothing', () => {
  let host: GameHost | null = null;
  afterEach(async () => {
    await host?.stop();
    host = null;
  });
  const start = async (opts: Partial<ConstructorParameters<typeof GameHost>[0]> = {}) => {
    host = new GameHost({ port: 0, ...opts });
    return host.start();
  };
  const post = (url: string, body: string) => fetch(url, { method: 'POST', body });

  it('answers each bad request with a clear error', async () => {
    const url = await start();
    const bad = async (path: string, body: string, status: number, message: RegExp) => {
      const r = await post(url + path, body);
      expect(r.status).toBe(status);
      expect((await r.json()).error.message).toMatch(message);
    };
    await bad('/session', '{not json', 400, /^the body must be JSON$/);
    await bad('/session', JSON.stringify({ resolution: '8k' }), 400, /^Invalid option/);
    await bad('/session', JSON.stringify({ bitrateKbps: 1e9 }), 400, /too big|<=/i);
    await bad('/session', JSON.stringify({ cmd: 'id' }), 400, /unrecognized key/i);
    await bad('/session', JSON.stringify({ codec: 'av1' }), 400, /^Invalid option/);
    await bad('/session', JSON.stringify({ codec: 'h264_nvenc -vf x' }), 400, /^Invalid option/);
    await bad('/session', 'x'.repeat(70 * 1024), 413, /^body too large$/);
    await bad(`/session/${'a'.repeat(32)}/answer`, '{}', 404, /^no such session/);
    await bad('/../etc/passwd', '{}', 404, /^no route/);
    expect((await (await fetch(url + '/stats')).json()).connection).toBe('none');
  });

  it('offers a VP8 video track and an input channel; a malformed answer is refused and the offer stays', async () => {
    const url = await start();
    const s = await (await post(url + '/session', JSON.stringify({ resolution: '360p' }))).json();
    expect(s.session).toMatch(/^[0-9a-f]{32}$/);
    expect(s.offer.type).toBe('offer');
    expect(s.offer.sdp).toMatch(/^m=video .*\r?$/m);
    expect(s.offer.sdp).toMatch(/a=rtpmap:96 VP8\/90000/);
    expect(s.offer.sdp).toMatch(/a=sendonly/);
    expect(s.offer.sdp).toMatch(/^m=application .* webrtc-datachannel/m);
    expect(s.offer.sdp).toMatch(/ 127\.0\.0\.1 \d+ typ host/);
    const r = await post(
      `${url}/session/${s.session}/answer`,
      JSON.stringify({ type: 'answer', sdp: 'v=0 garbage' }),
    );
    expect(r.status).toBe(400);
    const stats = await (await fetch(url + '/stats')).json();
    expect(stats).toMatchObject({ resolution: '360p', width: 640, height: 360, framesRendered: 0 });
  });

  /** a UDP port that was free a moment ago */
  const freeUdpPort = async () => {
    const free = createSocket('udp4');
    await new Promise<void>((r) => free.bind(0, '127.0.0.1', () => r()));
    const port = free.address().port;
    await new Promise<void>((r) => free.close(() => r()));
    return port;
  };
  /** a host on one UDP port and its first session; another worker may take a port that was free a
   * moment ago, and the host then says so (503): another port is tried */
  const startOnOnePort = async (opts: Partial<ConstructorParameters<typeof GameHost>[0]> = {}) => {
    for (let attempt = 0; ; attempt++) {
      const icePort = await freeUdpPort();
      const url = await start({ icePort, ...opts });
      const r = await post(url + '/session', JSON.stringify({ resolution: '360p' }));
      if (r.status === 503 && attempt < 4) {
        await host!.stop();
        continue;
      }
      expect(r.status).toBe(200);
      return { url, icePort, first: await r.json() };
    }
  };
  const candidatesOf = (sdp: string) => [
    ...new Set(sdp.match(/^a=candidate:.*$/gm)!.map((l: string) => l.trim())),
  ];

  it("with one UDP port (a sandboxed lease's), offers one candidate on it, again for a new session", async () => {
    const { url, icePort, first } = await startOnOnePort();
    // (the second replaces the first: its port must be free again at once)
    const second = await (await post(url + '/session', JSON.stringify({ resolution: '360p' }))).json();
    for (const s of [first, second]) {
      const candidates = candidatesOf(s.offer.sdp);
      expect(candidates).toHaveLength(1);
      expect(candidates[0]).toMatch(new RegExp(` udp \\d+ 127\\.0\\.0\\.1 ${icePort} typ host`));
      expect(s.offer.sdp).toMatch(/^a=group:BUNDLE 0 1\r?$/m); // video and inputs on that one port
    }
  });

  it("names the host's public address ($AETHIR_UDP_HOST) as the one candidate, on that port", async () => {
    const { icePort, first } = await startOnOnePort({ iceHosts: ['203.0.113.7'] });
    const candidates = candidatesOf(first.offer.sdp);
    expect(candidates).toHaveLength(1);
    expect(candidates[0]).toMatch(new RegExp(` udp \\d+ 203\\.0\\.113\\.7 ${icePort} typ host`));
  });

  it('refuses a session while its one UDP port is taken (never offers a port that is not forwarded), and starts one once it is free', async () => {
    const squatter = createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(0, '0.0.0.0', () => r()));
    const icePort = squatter.address().port;
    let held = true;
    try {
      const url = await start({ icePort });
      const r = await post(url + '/session', JSON.stringify({ resolution: '360p' }));
      expect(r.status).toBe(503);
      expect((await r.json()).error.message).toBe(
        `UDP port ${icePort} (the one media goes through) is taken by another process; no session was started`,
      );
      expect((await (await fetch(url + '/stats')).json()).connection).toBe('none');
      await new Promise<void>((r) => squatter.close(() => r()));
      held = false;
      const s = await (await post(url + '/session', JSON.stringify({ resolution: '360p' }))).json();
      expect(candidatesOf(s.offer.sdp)[0]).toMatch(new RegExp(` 127\\.0\\.0\\.1 ${icePort} typ host`));
    } finally {
      if (held) await new Promise<void>((r) => squatter.close(() => r()));
    }
  });

  it('takes tick=fixed or input, nothing else', async () => {
    const url = await start();
    for (const tick of ['input', 'fixed'])
      expect((await post(url + '/session', JSON.stringify({ resolution: '360p', tick }))).status).toBe(200);
    const r = await post(url + '/session', JSON.stringify({ tick: 'turbo' }));
    expect(r.status).toBe(400);
  });

  it('ends when no player connects in time', async () => {
    let ended: string | null = null;
    await start({ idleExitMs: 150, onEnd: (r) => (ended = r) });
    await expect.poll(() => ended).toBe('idle');
  });
});

describe('the video encoder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aethir-ffmpeg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** an "ffmpeg" that exits with `code` whatever it is asked (how NVENC's trial frame ends) */
  const fake = (name: string, code: number) => {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\nexit ${code}\n`);
    chmodSync(p, 0o755);
    return p;
  };

  it('auto is NVENC H.264 only where a trial frame encodes; h264 falls back to libx264, vp8 is asked for', async () => {
    const noGpu = fake('ffmpeg-no-gpu', 1);
    const gpu = fake('ffmpeg-gpu', 0);
    expect(await pickEncoder('auto', noGpu)).toBe('libvpx');
    expect(await pickEncoder('h264', noGpu)).toBe('libx264');
    expect(await pickEncoder('vp8', noGpu)).toBe('libvpx');
    expect(await pickEncoder('auto', gpu)).toBe('h264_nvenc');
    expect(await pickEncoder('h264', gpu)).toBe('h264_nvenc');
    expect(await pickEncoder('vp8', gpu)).toBe('libvpx');
    expect(await pickEncoder('auto', join(dir, 'no-such-ffmpeg'))).toBe('libvpx');
  });

  it('H.264 for WebRTC: constrained baseline, no B-frames, parameter sets before key frames, the lowest-latency settings', () => {
    for (const enc of ['libx264', 'h264_nvenc'] as const) {
      const a = h264Args(enc, 1280, 720, 2500, 1).join(' ');
      expect(a).toContain(`-c:v ${enc}`);
      expect(a).toContain('-profile:v baseline -bf 0');
      expect(a).toContain('-bsf:v dump_extra=freq=keyframe');
      expect(a).toContain('-b:v 2500k -maxrate 2500k');
    }
    expect(h264Args('h264_nvenc', 1280, 720, 2500, 1).join(' ')).toContain(
      '-preset p1 -tune ull -zerolatency 1',
    );
    expect(h264Args('libx264', 1280, 720, 2500, 1).join(' ')).toContain(
      '-preset ultrafast -tune zerolatency',
    );
  });
});
