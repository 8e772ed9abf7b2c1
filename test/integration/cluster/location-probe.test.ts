import { afterAll, describe, expect, it } from 'vitest';
import { Cluster, getJson, waitFor } from './harness.js';

/**
 * `aethir node --roles checker` measures real round trips by default (ProbeNetwork): TCP
 * handshakes to each container's endpoint proxy, as its heartbeats announce it. Every process of
 * this test runs on one machine, so every measured RTT is a loopback one (well under a
 * millisecond): the checkers say they are in Frankfurt, so a container claiming Frankfurt fits
 * and one claiming Singapore, 10,000 km away, is refuted on measured RTTs.
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
      const [api] = await c.startNodes(
        checkerNames.map((name) => ({
          name,
          roles: ['checker', 'api'],
          checks: 'liveness,location',
          location: 'Frankfurt, DE',
          locationNetwork: 'probe',
        })),
      );
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
