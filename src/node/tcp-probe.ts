import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';
import type { RttProbe } from '../checker/location/network.js';

/**
 * The checker's real RTT probe (src/checker/location ProbeNetwork): the time from connect() to
 * the connection being established, i.e. one TCP handshake (SYN out, SYN-ACK back), with the name
 * resolved first so DNS is not timed. The connection is closed at once (RST-free end: the kernel
 * sends the final ACK, the socket is destroyed). null on refusal, error or timeout.
 */
export class TcpRttProbe implements RttProbe {
  async rttMs(host: string, port: number, timeoutMs: number): Promise<number | null> {
    let address: string;
    try {
      address = (await lookup(host)).address;
    } catch {
      return null;
    }
    return new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const sock = connect({ host: address, port });
      const done = (v: number | null) => {
        clearTimeout(timer);
        sock.removeAllListeners();
        sock.on('error', () => undefined);
        sock.destroy();
        resolve(v);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      sock.once('connect', () => done(Number(process.hrtime.bigint() - started) / 1e6));
      sock.once('error', () => done(null));
    });
  }
}
