import { LocationChecker, ProbeNetwork } from '../../../src/checker/location/index.js';
import { TcpRttProbe } from '../../../src/node/tcp-probe.js';

/**
 * One checker of netns-geography.test.ts, run inside its own network namespace: it measures each
 * container with the checkers' real code (LocationChecker.measure over ProbeNetwork, TcpRttProbe:
 * the minimum of `samples` TCP handshakes to the container's address) and prints
 * {"<container id>": rttMs | null} as one JSON line.
 *
 * Usage: node --import tsx probe-checker.ts '{"from":{...},"samples":5,"targets":[{"id","address"}]}'
 */

interface Args {
  from: { city: string; country: string; lat: number; lon: number };
  samples: number;
  targets: Array<{ id: string; address: string }>;
}

const args = JSON.parse(process.argv[2]!) as Args;
const addresses = new Map(args.targets.map((t) => [t.id, t.address]));
const checker = new LocationChecker({
  network: new ProbeNetwork({
    probe: new TcpRttProbe(),
    addressOf: (id) => addresses.get(id),
    timeoutMs: 3000,
  }),
  from: args.from,
  samples: args.samples,
});
const out: Record<string, number | null> = {};
for (const t of args.targets) out[t.id] = await checker.measure({ id: t.id, claimed: args.from });
process.stdout.write(`${JSON.stringify(out)}\n`);
