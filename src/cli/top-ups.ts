import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultHome, formatAth } from '../core/index.js';
import type { FundsEvent, Renter } from '../sdk/index.js';

interface Allowance {
  upTo: string;
  spent: string;
}

/**
 * Top-up allowances given with `rent --detach --top-up ATH`, kept next to the user's keys
 * ($AETHIR_HOME/top-ups.json, 0600): the client that follows the lease later (`aethir logs -f`,
 * `aethir wait`) tops it up from the key's balance when it runs low, up to what is left.
 */
export class TopUpAllowances {
  constructor(readonly file = join(defaultHome(), 'top-ups.json')) {}

  private read(): Record<string, Allowance> {
    try {
      const v = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return v && typeof v === 'object' ? (v as Record<string, Allowance>) : {};
    } catch {
      return {};
    }
  }

  private write(all: Record<string, Allowance>): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(all, null, 2), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** What is left of the lease's allowance (0: none given). */
  left(lease: string): bigint {
    const a = this.read()[lease];
    if (!a || !/^\d{1,40}$/.test(a.upTo) || !/^\d{1,40}$/.test(a.spent)) return 0n;
    const left = BigInt(a.upTo) - BigInt(a.spent);
    return left > 0n ? left : 0n;
  }

  set(lease: string, upTo: bigint): void {
    const all = this.read();
    all[lease] = { upTo: upTo.toString(), spent: all[lease]?.spent ?? '0' };
    this.write(all);
  }

  spend(lease: string, amount: bigint): void {
    const all = this.read();
    const a = all[lease];
    if (!a) return;
    all[lease] = { ...a, spent: (BigInt(a.spent) + amount).toString() };
    this.write(all);
  }

  forget(lease: string): void {
    const all = this.read();
    if (!(lease in all)) return;
    delete all[lease];
    this.write(all);
  }
}

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
 * runs low or it is paused, and tops it up from the allowance `rent --top-up` left, if any.
 */
export function followFunds(
  renter: Renter,
  lease: string,
  opts: { signal: AbortSignal; say: (line: string) => void; allowances?: TopUpAllowances; pollMs?: number },
): Promise<void> {
  const allowances = opts.allowances ?? new TopUpAllowances();
  const upTo = allowances.left(lease);
  return renter
    .keepFunded(lease, {
      upTo,
      signal: opts.signal,
      ...(opts.pollMs ? { pollMs: opts.pollMs } : {}),
      onEvent: (e) => {
        if (e.type === 'topped-up') allowances.spend(lease, e.amount);
        opts.say(fundsLine(e, e.type === 'topped-up' ? allowances.left(lease) : undefined));
      },
    })
    .then(
      () => undefined,
      () => undefined,
    );
}
