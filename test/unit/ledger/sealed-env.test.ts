import { describe, expect, it } from 'vitest';
import { ath, canonicalize, encKeyOf, sealEnv } from '../../../src/core/index.js';
import {
  CHAIN_ID,
  TestNet,
  alice,
  bob,
  governor,
  host,
  leasePayload,
  makeGenesis,
  registerPayload,
} from './fixtures.js';

const PRICE = ath(1);

/** A network started with sealed env (a devnet's genesis: clearEnv false), host online and keyed. */
async function sealedNet(withKey = true) {
  const t = new TestNet(makeGenesis({ clearEnv: false }));
  t.onlineContainer(host, 1, PRICE);
  const encKey = await encKeyOf(host);
  if (withKey) t.tx(host, 'container.register', { ...registerPayload(1, PRICE), encKey });
  t.deposit(alice, ath(100));
  return { t, encKey };
}

const withWorkload = (workload: Record<string, unknown>) => ({
  ...leasePayload(host.address, 1, 600, PRICE),
  workload: { command: ['python', 'train.py'], ...workload },
});

describe('lease env on the ledger', () => {
  it('a container registers its X25519 encKey; re-registering without one keeps it', async () => {
    const { t, encKey } = await sealedNet();
    expect(t.ledger.container(host.address)!.encKey).toBe(encKey);
    t.tx(host, 'container.register', registerPayload(1, PRICE, 'renamed'));
    expect(t.ledger.container(host.address)).toMatchObject({ name: 'renamed', encKey });
  });

  it('opening a lease with env values in clear is refused where params.clearEnv is false, changing nothing', async () => {
    const { t } = await sealedNet();
    const e = t.expectRejectTx(
      alice,
      'lease.open',
      withWorkload({ env: { HF_TOKEN: 'hf_secret' } }),
      'INVALID_TRANSACTION',
    );
    expect(e.message).toBe(
      "env values in clear are not accepted on this network: seal them to the container's encKey (workload.sealedEnv)",
    );
  });

  it('sealed env is accepted and the ledger keeps only ciphertext', async () => {
    const { t, encKey } = await sealedNet();
    const sealedEnv = await sealEnv({ HF_TOKEN: 'hf_secret' }, encKey, {
      chainId: CHAIN_ID,
      user: alice.address,
      container: host.address,
    });
    const r = t.tx(alice, 'lease.open', withWorkload({ sealedEnv }));
    const lease = t.ledger.lease(r.lease as string)!;
    expect(Object.keys(lease.workload.sealedEnv!)).toEqual(['HF_TOKEN']);
    expect(canonicalize(lease)).not.toContain('hf_secret');
  });

  it('sealed env for a container that registered no encKey is refused, changing nothing', async () => {
    const { t } = await sealedNet(false);
    const e = t.expectRejectTx(
      alice,
      'lease.open',
      withWorkload({ sealedEnv: { HF_TOKEN: 'AAAA' } }),
      'INVALID_TRANSACTION',
    );
    expect(e.message).toBe('container rig registered no encryption key: it cannot receive env values');
  });

  it('networks whose parameters predate sealed env still take clear env (history replays), until governance turns it off', async () => {
    const t = new TestNet();
    expect(t.ledger.params.clearEnv).toBeUndefined();
    t.onlineContainer(host, 1, PRICE);
    t.deposit(bob, ath(100));
    const before = t.tx(bob, 'lease.open', withWorkload({ env: { A: '1' } }));
    expect(t.ledger.lease(before.lease as string)!.workload.env).toEqual({ A: '1' });
    t.tx(governor, 'params.update', { changes: { clearEnv: false } });
    expect(t.ledger.params.clearEnv).toBe(false);
    t.expectRejectTx(bob, 'lease.open', withWorkload({ env: { A: '2' } }), 'INVALID_TRANSACTION');
    // the lease opened before the change is untouched
    expect(t.ledger.lease(before.lease as string)!.workload.env).toEqual({ A: '1' });
  });
});
