import { Command } from 'commander';
import { AethirError } from '../../core/errors.js';
import { resolvePlace } from '../../core/gazetteer.js';
import type { City } from '../../core/geo.js';
import { multilaterate, type Vantage } from '../../checker/location/multilaterate.js';
import { action, jsonOption, printJson } from '../common.js';

/** "London, GB=14.2" -> the vantage point and its RTT; bad input is an INVALID_ARGUMENT error. */
export function parseRttArg(text: string): { place: City; rttMs: number } {
  const i = text.lastIndexOf('=');
  if (i <= 0 || i === text.length - 1)
    throw new AethirError('INVALID_ARGUMENT', `--rtt takes PLACE=MS (e.g. "London, GB=14.2"), got "${text}"`);
  const ms = text.slice(i + 1).trim();
  const rttMs = /^\d+(\.\d+)?$/.test(ms) ? Number(ms) : Number.NaN;
  if (!(rttMs >= 0 && rttMs <= 60_000))
    throw new AethirError(
      'INVALID_ARGUMENT',
      `--rtt "${text}": the RTT must be a number of milliseconds from 0 to 60000, got "${ms}"`,
    );
  return { place: resolvePlace(text.slice(0, i)), rttMs };
}

const placeOut = (c: City) => ({
  city: c.city,
  country: c.country,
  region: c.region,
  lat: c.lat,
  lon: c.lon,
});
const round = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);

export function locationCommand(): Command {
  const cmd = new Command('location').description('places and the location check');
  cmd
    .command('judge')
    .description(
      'judge a claimed place from measured round-trip times, with the code the checkers run (all vantage points together, default bounds); exit 0: consistent, 3: refuted',
    )
    .requiredOption('--claim <place>', 'the claimed place: "City, CC", "City, Region, CC" or "lat,lon"')
    .option(
      '--rtt <place=ms...>',
      'a vantage point and the RTT it measured to the container, e.g. "London, GB=14.2" (repeat for each)',
    )
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const claim = resolvePlace(String(opts.claim));
        const rtts = ((opts.rtt as string[] | undefined) ?? []).map(parseRttArg);
        if (rtts.length === 0)
          throw new AethirError('INVALID_ARGUMENT', 'give at least one --rtt PLACE=MS measurement');
        const vantages: Vantage[] = rtts.map((r) => ({ from: r.place, rttMs: r.rttMs }));
        const m = multilaterate(claim, vantages);
        if (opts.json)
          printJson({
            ok: m.ok,
            reason: m.reason,
            claim: placeOut(claim),
            marginMs: round(m.marginMs),
            accessDelayMs: round(m.accessDelayMs),
            vantages: m.constraints.map((c, i) => ({
              place: placeOut(rtts[i]!.place),
              rttMs: c.rttMs,
              claimedKm: round(c.claimedKm),
              maxKm: round(c.maxKm),
              slackMs: round(c.slackMs),
              excessMs: round(c.excessMs),
            })),
          });
        else process.stdout.write(`${m.ok ? 'consistent' : 'REFUTED'}: ${m.reason}\n`);
        return m.ok ? 0 : 3;
      }),
    );
  return cmd;
}
