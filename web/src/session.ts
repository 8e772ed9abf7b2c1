// A lease signed in this browser, from the match to what it cost: shared by Rent and Play.
import { api, chainId, get, onBlock, send } from './api.js';
import { signReceipt, type BrowserKey } from './keys.js';
import { ath, h } from './ui.js';

/** The offer the user saw, for the same request (and while its reservation, if any, holds a few seconds more); else null. */
export function heldOffer(offer: { request: string; match: any } | null, req: unknown): any {
  if (offer?.request !== JSON.stringify(req)) return null;
  // the console browses unsigned (no reservation); a reserved offer is kept only while it holds
  const reservation = offer.match.reservation;
  return !reservation || reservation.expiresAt > Date.now() + 3000 ? offer.match : null;
}

/** Tops the escrow up to cover `maxDurationSec` on the matched container, then opens the lease. */
export async function openLease(
  key: BrowserKey,
  match: any,
  req: { gpus: number; maxPricePerHour?: string },
  workload: Record<string, unknown>,
  maxDurationSec: number,
  say: (s: string) => void,
): Promise<{ leaseId: string; escrow: string }> {
  const c = match.container;
  const needed = (BigInt(c.pricePerHour) * BigInt(Math.max(1, req.gpus)) * BigInt(maxDurationSec)) / 3600n;
  const acct = await get(`/v1/accounts/${key.address}`);
  if (BigInt(acct.escrow) < needed) {
    await send(key, 'escrow.deposit', { amount: needed - BigInt(acct.escrow) });
    say(`deposited ${ath(needed - BigInt(acct.escrow))} into escrow`);
  }
  const opened = await send(key, 'lease.open', {
    container: c.id,
    gpus: req.gpus,
    maxDurationSec,
    maxPricePerHour: req.maxPricePerHour ?? c.pricePerHour,
    workload,
  });
  return { leaseId: String(opened.result.lease), escrow: String(opened.result.escrow) };
}

/**
 * Usage receipts: the container is paid up to the latest one this browser signs. `sample` says how
 * the service looked (and a measured latency, when there is one). Returns `send` (sign one now) and
 * `stop`.
 */
export function receipts(
  key: BrowserKey,
  leaseId: string,
  openedAt: number,
  sample: () => { ok: boolean; latencyMs?: number; fps?: number; inputToPhotonMs?: number } = () => ({
    ok: true,
  }),
  everyMs = 5000,
): { send: () => Promise<void>; stop: () => void } {
  let seq = 0;
  const sendOne = async () => {
    const at = Date.now();
    const r = await signReceipt(key, await chainId(), {
      lease: leaseId,
      servedMs: Math.max(0, at - openedAt),
      seq: ++seq,
      at,
      samples: [{ at, ...sample() }],
    });
    await api('POST', `/v1/leases/${leaseId}/receipts`, r).catch(() => undefined);
  };
  const t = setInterval(() => void sendOne(), everyMs);
  return { send: sendOne, stop: () => clearInterval(t) };
}

/** What the lease cost, appended to `status` once its container has closed it (a block says when). */
export function showCostWhenClosed(leaseId: string, status: HTMLElement, giveUpMs = 30_000): Promise<void> {
  return new Promise<void>((resolve) => {
    let finished = false;
    const done = () => ((finished = true), off(), clearTimeout(giveUp), resolve());
    const check = async () => {
      const l = await get(`/v1/leases/${leaseId}`).catch(() => null);
      if (finished || l?.status !== 'closed') return;
      status.append(
        h(
          'p',
          { 'data-testid': 'lease-cost' },
          `Charged ${ath(l.charged)} for ${(l.durationMs / 1000).toFixed(1)} s; ${ath(BigInt(l.escrow) - BigInt(l.charged))} refunded.`,
        ),
      );
      done();
    };
    const off = onBlock(() => void check());
    const giveUp = setTimeout(done, giveUpMs);
    void check();
  });
}
