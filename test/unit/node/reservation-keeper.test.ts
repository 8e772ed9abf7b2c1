import { describe, expect, it } from 'vitest';
import { ath, type Clock } from '../../../src/core/index.js';
import { closeEndedReservations } from '../../../src/node/roles.js';
import type { TxSender } from '../../../src/sdk/index.js';
import { DAY_MS, TestNet, alice, host, registerPayload, stranger } from '../ledger/fixtures.js';

describe('keeper: closeEndedReservations', () => {
  it('closes only the reservations whose period is over; a refusal is logged, not thrown', async () => {
    const t = new TestNet();
    t.onlineContainer(host, 2, ath(2));
    t.tx(host, 'container.register', { ...registerPayload(2, ath(2)), reservedPricePerHour: ath(1) });
    t.deposit(alice, ath(200));
    const short = t.tx(alice, 'reservation.open', {
      container: host.address,
      gpus: 1,
      days: 1,
      maxPricePerHour: ath(1),
    }).reservation as string;
    const long = t.tx(alice, 'reservation.open', {
      container: host.address,
      gpus: 1,
      days: 2,
      maxPricePerHour: ath(1),
    }).reservation as string;
    const sent: string[] = [];
    const sender = {
      send: async (type: 'reservation.close', payload: { reservation: string }) => {
        sent.push(payload.reservation);
        return { result: t.tx(stranger, type, payload) };
      },
    } as unknown as TxSender;
    const clock: Clock = { now: () => t.time } as Clock;
    await closeEndedReservations(() => t.ledger, sender, clock);
    expect(sent).toEqual([]);
    t.advance(DAY_MS);
    await closeEndedReservations(() => t.ledger, sender, clock);
    expect(sent).toEqual([short]);
    expect(t.ledger.reservation(short)!.status).toBe('closed');
    expect(t.ledger.reservation(long)!.status).toBe('active');
    expect(t.ledger.container(host.address)!.gpusReserved).toBe(1);
  });
});
