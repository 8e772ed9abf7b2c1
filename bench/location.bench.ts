import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CITIES, haversineKm, LATENCY_MODEL, relativeErrors } from '../src/core/index.js';
import { evaluateLocation, judgeLocation, parseWonderProxy } from '../src/checker/location/index.js';
import { interleaved, opsPerSec, row, sink, type BenchOptions, type Row } from './harness.js';

/**
 * The location check (src/checker/location, docs/verification.md "Location"):
 *
 * - judgeLocation verdicts per second on one core against computing the great-circle distance
 *   alone (the floor of any distance-based check), in interleaved rounds;
 * - on WonderProxy's real RTTs (../shared/data/rtt/wonderproxy; skipped when absent): the latency
 *   model's error, and the check's false positives and detection of false claims ≥ 2,000 km away
 *   with 3 and 5 checkers, per-checker calibrated bounds against the default bounds.
 */

const SUITE = 'location';
const DIR = fileURLToPath(new URL('../../shared/data/rtt/wonderproxy/', import.meta.url));
const SERVERS = `${DIR}servers-2020-07-19.csv`;
const PINGS = `${DIR}pings-2020-07-19-2020-07-20-grouped.csv`;

export function runLocation(opts: BenchOptions): Row[] {
  const out: Row[] = [];
  const n = CITIES.length;
  const claims = CITIES.map((c) => ({ city: c.city, country: c.country, lat: c.lat, lon: c.lon }));
  const samples = [[31.2, 30.4, 35.1, 30.9, 33.0]];
  const res = interleaved(
    opts.quick ? 3 : 5,
    {
      judge: (i) =>
        sink(
          judgeLocation({ from: claims[i % n]!, claimed: claims[(i * 7 + 3) % n]!, samples: samples[0]! }),
        ),
      distance: (i) => {
        const a = claims[i % n]!;
        const b = claims[(i * 7 + 3) % n]!;
        sink(haversineKm(a.lat, a.lon, b.lat, b.lon));
      },
    },
    { warmupMs: opts.quick ? 50 : 300, durationMs: opts.quick ? 300 : 2000 },
  );
  const judgeRate = opsPerSec(res.judge);
  const distRate = opsPerSec(res.distance);
  opts.log(
    `location: judgeLocation ${Math.round(judgeRate).toLocaleString('en-US')}/s, ` +
      `great-circle distance alone ${Math.round(distRate).toLocaleString('en-US')}/s`,
  );
  out.push(
    row({
      suite: SUITE,
      name: 'judgeLocation verdicts/s on one core (5 samples, with the reason)',
      value: judgeRate,
      unit: '/s',
      baseline: distRate,
      baselineName: 'great-circle distance alone',
      better: 'higher',
    }),
  );

  if (!existsSync(SERVERS) || !existsSync(PINGS)) {
    opts.log(
      `location: SKIPPED the evaluation on real RTTs: ${DIR} not found (only in the Aethir workplace)`,
    );
    return out;
  }
  const data = parseWonderProxy(readFileSync(SERVERS, 'utf8'), readFileSync(PINGS, 'utf8'));
  const err = relativeErrors(
    data.pairs.map((p) => ({ km: p.km, rttMs: p.avgMs })),
    LATENCY_MODEL,
  );
  opts.log(
    `location: latency model on ${data.pairs.length} WonderProxy pairs: relative error median ` +
      `${(err.median * 100).toFixed(1)}%, p90 ${(err.p90 * 100).toFixed(1)}%`,
  );
  const panels: Array<[string, string[]]> = [
    ['3 checkers', ['29', '16', '31']],
    ['5 checkers', ['29', '16', '31', '37', '125']],
  ];
  for (const [label, ids] of panels) {
    const cal = evaluateLocation(data, { checkers: ids, bounds: 'calibrated' });
    const def = evaluateLocation(data, { checkers: ids, bounds: 'default' });
    for (const e of [cal, def])
      opts.log(
        `location: ${label} (${e.checkers.join('; ')}), ${e.bounds} bounds: false positives ` +
          `${e.falsePositives.length} of ${e.honest} (margin ${e.marginMs.toFixed(2)} ms), detected ` +
          `${e.detected} of ${e.falseClaims} false claims ≥ 2,000 km (${((100 * e.detected) / e.falseClaims).toFixed(1)}%)`,
      );
    out.push(
      row({
        suite: SUITE,
        name: `false claims ≥ 2,000 km detected, ${label}, calibrated bounds (FP ${cal.falsePositives.length}/${cal.honest})`,
        value: (100 * cal.detected) / cal.falseClaims,
        unit: '%',
        baseline: (100 * def.detected) / def.falseClaims,
        baselineName: `default bounds (FP ${def.falsePositives.length}/${def.honest})`,
        better: 'higher',
      }),
    );
  }
  return out;
}
