import { formatAth } from '../core/amount.js';
import type { FundsEvent, Renter } from '../sdk/renter.js';

const when = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString().slice(11, 19));
const mins = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.ceil(ms / 1000)} s`);

/** A line for a person about a lease's funds (what `logs -f`, `wait` and `rent` print). */
export function fundsLine(e: FundsEvent, allowanceLeft?: bigint): string {
  const topup = `aethir lease topup ${e.lease} --amount ATH`;
  switch (e.type) {
    case 'low':
      return `aethir: lease ${e.lease}: its escrow runs out in ${mins(e.funds.msLeft ?? 0)} (at ${when(e.funds.runsOutAt)} UTC), then it is paused; top it up: ${topup}`;
    case 'paused':
      return `aethir: lease ${e.lease} is paused: its escrow ran out; its files are kept${e.funds?.closesAt ? ` until ${when(e.funds.closesAt)} UTC` : ''}; top it up to resume: ${topup}`;
    case 'resumed':
      return `aethir: lease ${e.lease} resumed`;
    case 'topped-up':
      return `aethir: topped lease ${e.lease} up with ${formatAth(e.amount, 9)} ATH${e.resumed ? ' (resumed)' : ''}${allowanceLeft !== undefined ? `; ${formatAth(allowanceLeft, 9)} ATH of --top-up left` : ''}`;
    case 'error':
      return `aethir: lease ${e.lease}: top-up failed: ${e.message}`;
  }
}

/**
 * Follows a lease's funds while a command runs (until `signal`): warns on stderr when its escrow
 * runs low or it is paused. Top-ups within `rent --top-up` are its host's (lease.open topUpLimit).
 */
export function followFunds(
  renter: Renter,
  lease: string,
  opts: { signal: AbortSignal; say: (line: string) => void; pollMs?: number },
): Promise<void> {
  return renter
    .keepFunded(lease, {
      upTo: 0n,
      signal: opts.signal,
      ...(opts.pollMs ? { pollMs: opts.pollMs } : {}),
      onEvent: (e) => opts.say(fundsLine(e)),
    })
    .then(
      () => undefined,
      () => undefined,
    );
}
