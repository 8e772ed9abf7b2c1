import { connect, JSONCodec } from 'nats';
import { afterAll, describe, expect, it } from 'vitest';
import { BEACON_SUBJECT, beaconProblem, type BeaconMsg } from '../../../src/checker/location/index.js';
import { TcpRttProbe } from '../../../src/node/tcp-probe.js';
import { probeAddress } from '../../../src/checker/location/network.js';
import { Cluster, freePort, getJson, waitFor } from './harness.js';

/**
 * `aethir node --roles checker` measures real round trips by default (ProbeNetwork): TCP
 * handshakes to each container's endpoint proxy, as its heartbeats announce it. Every process of
 * this test runs on one machine, so every measured RTT is a loopback one (well under a
 * millisecond): the checkers say they are in Frankfurt, so a container claiming Frankfurt fits
 * and one claiming Singapore, 10,000 km away, is refuted on measured RTTs.
 *
 * Each checker also announces itself as a landmark (a signed beacon with its place and an address
 * that answers a TCP handshake: its API, or a bare probe port on a node without one), so that the
 * others calibrate on it: the beacons on the bus must verify, and their addresses must answer.
 */

let c: Cluster | null = null;

let failed = false;

afterAll(async () => {
  await c?.destroy({ keep: failed || Boolean(process.env.AETHIR_TEST_KEEP) });
  if (failed) console.error(`cluster directory kept: ${c?.dir}`);
}, 60_000);

describe('the location check on real, measured RTTs', () => {
  it('checkers probing over TCP pass a container where it says it is and fail one that lies', async () => {
    try {
      c = await Cluster.create({ prefix: 'location-probe' });
      const checkerNames = ['chk-1', 'chk-2', 'chk-3'];
      const checkers = checkerNames.map((n) => c!.nodeKey(n));
      const honest = c.nodeKey('here');
      const liar = c.nodeKey('liar');
      await c.init({
        checkers,
        allocations: [
          { address: honest, ath: 100_000n },
          { address: liar, ath: 100_000n },
        ],
      });
      // beacons on the bus, as any peer sees them
      const nc = await connect({ servers: c.nats.url });
      const codec = JSONCodec<BeaconMsg>();
      const beacons = new Map<string, BeaconMsg>();
      const sub = nc.subscribe(`aethir.${c.chainId}.ev.${BEACON_SUBJECT}`, {
        callback: (_e, m) => {
          const b = codec.decode(m.data);
          beacons.set(b.checker, b);
        },
      });
      // the last checker has no API: it is probed on a port of its own, announced as its operator
      // says (--probe-port, --probe-url: what a checker behind a forwarded port does)
      const probePort = await freePort();
      const probeUrl = `127.0.0.1:${probePort}`;
      const checkerNodes = await c.startNodes(
        checkerNames.map((name, i) => ({
          name,
          roles: i < 2 ? ['checker', 'api'] : ['checker'],
          ...(i === 2 ? { args: ['--probe-port', String(probePort), '--probe-url', probeUrl] } : {}),
          checks: 'liveness,location',
          location: 'Frankfurt, DE',
          locationNetwork: 'probe',
        })),
      );
      const api = checkerNodes[0];
      await c.startNodes([
        { name: 'here', roles: ['container'], location: 'Frankfurt, DE' },
        { name: 'liar', roles: ['container'], location: 'Singapore, SG' },
      ]);
      type Check = { ok: boolean; reason: string; rttMs?: number } | undefined;
      const check = async (id: string): Promise<Check> =>
        (await getJson<{ checks: { location?: Check } }>(`${api!.api}/v1/containers/${id}`)).checks.location;
      const [h, l] = await waitFor(
        async () => {
          const got = [await check(honest).catch(() => undefined), await check(liar).catch(() => undefined)];
          return got[0] && got[1] ? got : null;
        },
        { timeoutMs: 90_000, what: 'location verdicts on both containers' },
      );
      // the vantage point that decides may be this checker (named by its --location) or another
      // checker whose signed measurement it took (named by the city nearest its coordinates)
      const seen = await waitFor(
        async () => (beacons.size === checkers.length ? [...beacons.values()] : null),
        {
          timeoutMs: 30_000,
          what: "every checker's beacon",
        },
      );
      sub.unsubscribe();
      await nc.close();
      expect(new Set(seen.map((b) => b.checker))).toEqual(new Set(checkers));
      for (const b of seen) {
        expect(beaconProblem(b, c.chainId)).toBeNull();
        expect([b.lat, b.lon]).toEqual([50.1109, 8.6821]);
        const at = probeAddress(b.address)!;
        expect(await new TcpRttProbe().rttMs(at.host, at.port, 2000), b.address).not.toBeNull();
      }
      expect(seen.find((b) => b.checker === checkers[0])!.address).toBe(api!.api);
      expect(seen.find((b) => b.checker === checkers[2])!.address).toBe(probeUrl);

      // each checker counts the two others among its landmarks; that is too few to calibrate on
      // (MIN_CALIBRATION_LANDMARKS), so it judges with the default bounds and says so
      for (const n of checkerNodes) {
        const first = /location bounds not calibrated \((\d+) landmarks; it takes \d+ that answer\)/.exec(
          n.stderr.value,
        );
        // the first calibration: no container is verified yet, so the two other checkers alone
        expect(first?.[1], n.name).toBe('2');
      }

      const from = 'Frankfurt, DE';
      expect(h!.ok).toBe(true);
      expect(h!.reason).toMatch(
        new RegExp(`^RTT from ${from} is 0\\.\\d ms: consistent with Frankfurt, DE|^Frankfurt, DE fits all`),
      );
      expect(l!.ok).toBe(false);
      expect(l!.reason).toMatch(
        new RegExp(
          `^RTT from ${from} is 0\\.\\d ms: the container is within \\d+ km of ${from}, but it claims Singapore, SG`,
        ),
      );
    } catch (e) {
      failed = true;
      throw new Error(`${(e as Error).message}\n${c?.logs() ?? ''}`, { cause: e });
    }
  }, 180_000);
});
