import { describe, expect, it } from 'vitest';
import { cli, tempHome } from './helpers.js';

const env = () => ({ AETHIR_HOME: tempHome('aethir-judge-') });

/** `aethir location judge --claim CLAIM --rtt R … --json`: exit code and parsed JSON. */
async function judge(claim: string, rtts: string[]): Promise<{ code: number | null; j: any }> {
  const r = await cli(
    ['location', 'judge', '--claim', claim, ...rtts.flatMap((x) => ['--rtt', x]), '--json'],
    env(),
  );
  return { code: r.code, j: JSON.parse(r.stdout) };
}

describe('aethir location judge (the real CLI)', () => {
  it('confirms an honest claim: exit 0, JSON ok true with the reason and each vantage point', async () => {
    const { code, j } = await judge('Frankfurt, DE', ['London, GB=14.2', 'Ashburn, US=89.0']);
    expect(code).toBe(0);
    expect(j.ok).toBe(true);
    expect(j.reason).toMatch(/^Frankfurt, DE fits all 2 vantage points/);
    expect(j.claim).toEqual({
      city: 'Frankfurt',
      country: 'DE',
      region: 'eu-central',
      lat: 50.1109,
      lon: 8.6821,
    });
    expect(
      j.vantages.map((v: { place: { city: string }; rttMs: number }) => [v.place.city, v.rttMs]),
    ).toEqual([
      ['London', 14.2],
      ['Ashburn', 89],
    ]);
  });

  it('refutes a container 7 ms from Singapore claiming Frankfurt: exit 3, ok false, the reason says why', async () => {
    const { code, j } = await judge('Frankfurt, DE', ['Singapore, SG=7.1', 'Ashburn, US=89']);
    expect(code).toBe(3);
    expect(j.ok).toBe(false);
    expect(j.reason).toMatch(
      /^RTT from Singapore, SG is 7\.1 ms: the container is within 776 km of Singapore, SG, but it claims Frankfurt, DE, 10,260 km away/,
    );
  });

  it('takes gazetteer cities and coordinates as claim and vantage points (plain text output)', async () => {
    const r = await cli(
      [
        'location',
        'judge',
        '--claim',
        'Portland, OR, US',
        '--rtt',
        '45.50,-73.57=80',
        '--rtt',
        'Seattle=6.5',
      ],
      env(),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^consistent: Portland, US fits all 2 vantage points/);
  });

  it('refuses bad input with a clear error and exit 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--claim', 'Frankfurt'], /give at least one --rtt PLACE=MS measurement/],
      [['--claim', 'Frankfurt', '--rtt', 'London'], /--rtt takes PLACE=MS/],
      [
        ['--claim', 'Frankfurt', '--rtt', 'London=-3'],
        /the RTT must be a number of milliseconds from 0 to 60000, got "-3"/,
      ],
      [['--claim', 'Frankfurt', '--rtt', 'London=1e3'], /got "1e3"/],
      [['--claim', 'Portland', '--rtt', 'London=10'], /ambiguous location "Portland": 3 cities/],
      [['--claim', 'Xyzzyville, DE', '--rtt', 'London=10'], /unknown location "Xyzzyville, DE"/],
      [['--claim', '95,10', '--rtt', 'London=10'], /latitude must be -90\.\.90/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(['location', 'judge', ...args, '--json'], env());
      expect(r.code).toBe(1);
      const j = JSON.parse(r.stdout);
      expect(j.error.code).toBe('INVALID_ARGUMENT');
      expect(j.error.message).toMatch(msg);
    }
  });
});
