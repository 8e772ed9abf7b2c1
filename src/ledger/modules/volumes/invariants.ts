import type { LedgerReader } from '../../reader.js';
import { coveredMs } from './keeper.js';
import { volumeCost, volumesOf } from './queries.js';

/**
 * What must hold of every volume after every transaction: it never charged more than its
 * escrow, its charge is exactly the price of its billed time (which its escrow covers), the
 * shares add up to the charge, and its billed time never exceeds its time alive.
 * Returns the problems found (none: []).
 */
export function volumeProblems(r: LedgerReader): string[] {
  const out: string[] = [];
  for (const v of volumesOf(r)) {
    const cost = volumeCost(v.pricePerGiBHour, v.sizeMiB, v.servedMs);
    if (v.charged !== cost) out.push(`${v.id}: charged ${v.charged}, its billed time costs ${cost}`);
    if (v.servedMs > coveredMs(v)) out.push(`${v.id}: billed for more time than its escrow pays for`);
    if (v.hostShare + v.protocolShare !== v.charged) out.push(`${v.id}: shares do not add up to the charge`);
    if (v.servedMs > v.settledAt - v.createdAt) out.push(`${v.id}: billed for more time than it lived`);
    if (v.charged < 0n || v.charged > v.escrow) out.push(`${v.id}: charge outside its escrow`);
  }
  return out;
}
