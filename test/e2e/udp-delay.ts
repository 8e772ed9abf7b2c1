import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { SeededRng } from '../../src/core/index.js';

/**
 * A UDP relay that delays (and may drop) datagrams, in user space: what `tc netem` does in the
 * kernel, for a machine without sch_netem. The player's browser is pointed at the relay (its
 * address replaces the host's ICE candidates in the offer), the relay forwards to the host from a
 * socket of its own, and every datagram waits `delayMs` each way. ICE sees the relay as a NAT (the
 * host learns a peer-reflexive candidate), DTLS and SRTP pass through untouched.
 */
export class DelayRelay {
  /** added to each datagram, each way (ms) */
  delayMs = 0;
  /** the share of host-to-player datagrams dropped (0..1), from a seeded Rng */
  loss = 0;
  dropped = 0;
  relayed = 0;
  private readonly front: Socket = createSocket('udp4');
  private readonly back: Socket = createSocket('udp4');
  private player: RemoteInfo | null = null;
  private readonly rng = new SeededRng('delay-relay');
  private readonly timers = new Set<NodeJS.Timeout>();

  /** where datagrams from the player go (the host's ICE candidate) */
  target: { host: string; port: number } | null = null;

  constructor(private readonly log: (s: string) => void = () => {}) {}

  async start(): Promise<number> {
    this.front.on('message', (m, from) => {
      this.player = from;
      const to = this.target;
      if (to) this.later(() => this.back.send(m, to.port, to.host));
    });
    this.back.on('message', (m) => {
      const to = this.player;
      if (!to) return;
      if (this.loss > 0 && this.rng.next() < this.loss) {
        this.dropped++;
        return;
      }
      this.later(() => this.front.send(m, to.port, to.address));
    });
    for (const s of [this.front, this.back]) s.on('error', (e) => this.log(`relay: ${e.message}`));
    await new Promise<void>((r) => this.front.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.back.bind(0, '127.0.0.1', () => r()));
    return this.front.address().port;
  }

  private later(send: () => void) {
    this.relayed++;
    if (this.delayMs <= 0) return send();
    const t = setTimeout(() => {
      this.timers.delete(t);
      send();
    }, this.delayMs);
    this.timers.add(t);
  }

  close() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.front.close();
    this.back.close();
  }
}

/**
 * The offer's SDP with every ICE candidate replaced by one at the relay, and the loopback candidate
 * the relay forwards to (null when the host offered none).
 */
export function viaRelay(
  sdp: string,
  relayPort: number,
): { sdp: string; target: { host: string; port: number } } | null {
  const m = /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host.*$/m.exec(sdp);
  if (!m) return null;
  const lines = sdp.split(/\r?\n/).filter((l) => !l.startsWith('a=candidate:'));
  const at = lines.findIndex((l) => l.startsWith('a=end-of-candidates'));
  const cand = `a=candidate:1 1 udp 2130706431 127.0.0.1 ${relayPort} typ host`;
  if (at >= 0) lines.splice(at, 0, cand);
  else lines.splice(lines.findIndex((l) => l.startsWith('m=')) + 1, 0, cand);
  return { sdp: lines.join('\r\n'), target: { host: '127.0.0.1', port: Number(m[1]) } };
}
