import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { payloads } from '../../../src/ledger/modules/leases/payloads.js';
import { TestNet, alice, host, leasePayload } from './fixtures.js';

const PRICE = ath(1);

function net() {
  const t = new TestNet();
  t.onlineContainer(host, 2, PRICE);
  t.deposit(alice, ath(100));
  return t;
}

const open = (workload: Record<string, unknown>) => ({
  ...leasePayload(host.address, 1, 600, PRICE),
  workload,
});

describe("a lease's own port (workload.port)", () => {
  it('is kept on the lease as given, with or without an image', () => {
    const t = net();
    const r = t.tx(
      alice,
      'lease.open',
      open({ command: ['jupyter', 'lab'], image: 'jupyter/base-notebook', port: 8888 }),
    );
    const id = (r as { lease: string }).lease;
    expect(t.ledger.lease(id)!.workload).toMatchObject({ image: 'jupyter/base-notebook', port: 8888 });
    const plain = t.tx(
      alice,
      'lease.open',
      open({ command: ['python3', '-m', 'http.server', '8000'], port: 8000 }),
    );
    expect(t.ledger.lease((plain as { lease: string }).lease)!.workload.port).toBe(8000);
  });

  it('a port out of range, not an integer, not a number, or with an app is refused and changes nothing', () => {
    const t = net();
    for (const port of [0, -1, 65536, 1e9, 80.5, '8888', null, true])
      t.expectRejectTx(alice, 'lease.open', open({ command: ['serve'], port }), 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'lease.open', open({ app: 'llm-chat', port: 8888 }), 'INVALID_TRANSACTION');
    const bad = payloads['lease.open'].safeParse(open({ app: 'llm-chat', port: 8888 }));
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('a port goes with a command');
  });

  it('a lease without a port stores no port field: what older leases hashed to is unchanged', () => {
    const t = net();
    const r = t.tx(alice, 'lease.open', open({ command: ['true'] }));
    expect('port' in t.ledger.lease((r as { lease: string }).lease)!.workload).toBe(false);
  });
});
