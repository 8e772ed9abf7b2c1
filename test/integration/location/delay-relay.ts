import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

/**
 * The user-space stand-in for `tc netem` (this kernel has no sch_netem): a router for the
 * namespaced hosts of netns-geography.test.ts. Each host's namespace has a TUN device (socat)
 * whose IP packets arrive here as UDP datagrams over the host's veth pair; the relay reads the
 * packet's IPv4 destination, holds the packet for the one-way delay of that link (half the
 * WonderProxy RTT between the two cities the hosts stand in) and passes it on to the
 * destination host's tunnel. So every packet between two hosts, TCP handshakes included, takes
 * the delay of its link: what the checkers time is the RTT of the WonderProxy pair.
 *
 * Run inside the router namespace: node --import tsx delay-relay.ts CONFIG.json
 * CONFIG: { port, hosts: [{ underlay: "10.x.y.2", overlay: "10.z.0.n" }], oneWayMs: number[][] }
 * Prints "ready" when listening; packets for an unknown destination are dropped.
 */

interface Config {
  port: number;
  hosts: Array<{ underlay: string; overlay: string }>;
  oneWayMs: number[][];
}

const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Config;
const byUnderlay = new Map(cfg.hosts.map((h, i) => [h.underlay, i]));
const byOverlay = new Map(cfg.hosts.map((h, i) => [h.overlay, i]));
const sock = createSocket('udp4');
let relayed = 0;
sock.on('message', (pkt, rinfo) => {
  const from = byUnderlay.get(rinfo.address);
  if (from === undefined || pkt.length < 20 || pkt[0]! >> 4 !== 4) return;
  const to = byOverlay.get(`${pkt[16]}.${pkt[17]}.${pkt[18]}.${pkt[19]}`);
  if (to === undefined) return;
  // setTimeout truncates to whole ms: round up, so a link is never faster than its delay
  const delay = Math.ceil(cfg.oneWayMs[from]![to]!);
  setTimeout(() => {
    relayed++;
    sock.send(pkt, cfg.port, cfg.hosts[to]!.underlay);
  }, delay);
});
sock.bind(cfg.port, '0.0.0.0', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  process.stdout.write(`relayed ${relayed}\n`);
  process.exit(0);
});
