import type { Reservation } from '../../model.js';
import type { LedgerReader } from '../../reader.js';

/** Units held by active reservations: their locked escrow not yet paid to the host. */
export function heldByReservations(r: LedgerReader): bigint {
  let t = 0n;
  for (const [, v] of r.state.scan<Reservation>('resv/'))
    if (v.status === 'active') t += v.escrow - v.charged;
  return t;
}

/**
 * Nothing double-booked: per container, the GPUs its on-demand leases hold plus the GPUs its
 * active reservations book never exceed its GPUs, and each reservation's leases fit in it.
 * Returns what is wrong (empty: nothing).
 */
export function bookingProblems(r: LedgerReader): string[] {
  const out: string[] = [];
  const resv = [...r.state.scan<Reservation>('resv/')].map(([, v]) => v);
  for (const c of r.containers()) {
    const booked = resv.filter((x) => x.container === c.id && x.status === 'active');
    const sum = booked.reduce((a, x) => a + x.gpus, 0);
    if ((c.gpusReserved ?? 0) !== sum)
      out.push(`${c.id}: gpusReserved ${c.gpusReserved ?? 0} but active reservations book ${sum}`);
    const until = booked.length ? Math.min(...booked.map((x) => x.endsAt)) : undefined;
    if (c.reservedUntil !== until)
      out.push(
        `${c.id}: reservedUntil ${c.reservedUntil} but its earliest active reservation ends at ${until}`,
      );
    if (c.gpusLeased + sum > c.gpusTotal)
      out.push(`${c.id}: ${c.gpusLeased} leased + ${sum} reserved > ${c.gpusTotal} GPUs`);
  }
  for (const x of resv) {
    const used = r
      .leases()
      .filter((l) => l.reservation === x.id && l.status === 'open')
      .reduce((a, l) => a + l.gpus, 0);
    if (x.status === 'active' && used !== x.gpusInUse)
      out.push(`${x.id}: gpusInUse ${x.gpusInUse} but its open leases use ${used}`);
    if (used > x.gpus) out.push(`${x.id}: its leases use ${used} of ${x.gpus} GPUs`);
  }
  return out;
}
