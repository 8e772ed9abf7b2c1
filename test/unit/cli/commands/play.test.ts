import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { playUrl } from '../../../../src/cli/commands/play.js';

describe('aethir play: the Play page URL', () => {
  it('names the game and carries the place and bound, encoded', () => {
    expect(playUrl('http://127.0.0.1:7420/', 'arena', 'Paris, FR', 40)).toBe(
      'http://127.0.0.1:7420/#/play/arena?near=Paris%2C+FR&maxLatency=40',
    );
    expect(playUrl('https://node.example', 'arena')).toBe('https://node.example/#/play/arena');
    expect(playUrl('http://h', 'arena', 'São Paulo, BR&x=<y>')).toBe(
      'http://h/#/play/arena?near=S%C3%A3o+Paulo%2C+BR%26x%3D%3Cy%3E',
    );
  });
});

describe('aethir game serve: the address and port a sandbox names are checked', () => {
  const serve = (env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, ['bin/aethir.js', 'game', 'serve', 'arena', '--port', '1'], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('close', (code) => resolve({ code, out }));
    });
  it('a $AETHIR_UDP_HOST that is not an IPv4 address is refused, saying so, before anything starts', async () => {
    for (const bad of ['evil.example', '1.2.3.4/0']) {
      const r = await serve({ AETHIR_UDP_PORT: '40000', AETHIR_UDP_HOST: bad });
      expect(r.code).not.toBe(0);
      expect(r.out).toContain('$AETHIR_UDP_HOST must be an IPv4 address');
    }
  }, 60_000);
});
