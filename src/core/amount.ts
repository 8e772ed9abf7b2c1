import { AethirError } from './errors.js';

/**
 * Amounts are bigints in the smallest unit. 1 ATH = 10^18 units, as in most account-based
 * ledgers: 42 billion ATH (4.2e28 units) fits comfortably, and per-millisecond rental
 * charges of a cheap CPU host still come out as whole, non-zero units.
 */
export const DECIMALS = 18;
export const UNIT = 10n ** BigInt(DECIMALS);

export function ath(whole: number | string | bigint): bigint {
  return parseAth(String(whole));
}

/** "1.5" -> 1.5 ATH in units. Rejects negatives, exponents and more than 18 decimals. */
export function parseAth(text: string): bigint {
  const s = text.trim();
  const m = /^(\d+)(?:\.(\d{1,18}))?$/.exec(s);
  if (!m) throw new AethirError('INVALID_ARGUMENT', `not an ATH amount: "${text}" (expected e.g. 12 or 0.5)`);
  const frac = (m[2] ?? '').padEnd(DECIMALS, '0');
  return BigInt(m[1]!) * UNIT + BigInt(frac);
}

/** Units -> "1.234567 ATH"-style decimal text, trailing zeros trimmed. */
export function formatAth(units: bigint, maxDecimals = DECIMALS): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const whole = abs / UNIT;
  let frac = (abs % UNIT).toString().padStart(DECIMALS, '0').slice(0, maxDecimals);
  frac = frac.replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? '.' + frac : ''}`;
}

/** Parses an amount in units given as a decimal string (the wire format). */
export function parseUnits(text: string, field = 'amount'): bigint {
  if (!/^\d{1,40}$/.test(text))
    throw new AethirError('INVALID_ARGUMENT', `${field} must be a non-negative integer string of units`);
  return BigInt(text);
}

/** floor(amount * bps / 10000) */
export function mulBps(amount: bigint, bps: number): bigint {
  return (amount * BigInt(bps)) / 10_000n;
}
