import { describe, expect, it } from 'vitest';
import { encKeyOf, keyPairFromSeed, openEnv, sealEnv } from '../../../src/core/index.js';

const container = keyPairFromSeed('seal:container');
const other = keyPairFromSeed('seal:other-container');
const user = keyPairFromSeed('seal:user').address;
const attacker = keyPairFromSeed('seal:attacker').address;
const ctx = { chainId: 'test-chain', user, container: container.address };

describe('sealed env', () => {
  it("opens with the container's key to exactly the values sealed, names in clear", async () => {
    const env = { HF_TOKEN: 'hf_abc', EMPTY: '', HASHY: '#not-a-bigint', UNI: 'é ✓' };
    const sealed = await sealEnv(env, await encKeyOf(container), ctx);
    expect(Object.keys(sealed)).toEqual(Object.keys(env));
    for (const box of Object.values(sealed)) expect(box).not.toContain('hf_abc');
    expect(await openEnv(sealed, container, ctx)).toEqual(env);
  });

  it('each box is fresh: the same value sealed twice gives different ciphertexts', async () => {
    const k = await encKeyOf(container);
    const [a, b] = await Promise.all([sealEnv({ A: 'x' }, k, ctx), sealEnv({ A: 'x' }, k, ctx)]);
    expect(a.A).not.toBe(b.A);
  });

  it("another container's key cannot open a box", async () => {
    const sealed = await sealEnv({ HF_TOKEN: 'hf_abc' }, await encKeyOf(container), ctx);
    await expect(openEnv(sealed, other, { ...ctx, container: other.address })).rejects.toThrow(
      "the sealed value of HF_TOKEN does not open with this container's key",
    );
  });

  it("copying a user's box into an attacker's lease on the same container is refused (bound to user, chain, name)", async () => {
    const sealed = await sealEnv({ HF_TOKEN: 'hf_abc' }, await encKeyOf(container), ctx);
    const refused =
      'the sealed value of HF_TOKEN was sealed for another lease (chain, user, container or name differ)';
    await expect(openEnv(sealed, container, { ...ctx, user: attacker })).rejects.toThrow(refused);
    await expect(openEnv(sealed, container, { ...ctx, chainId: 'other-chain' })).rejects.toThrow(refused);
    await expect(openEnv({ OTHER: sealed.HF_TOKEN! }, container, ctx)).rejects.toThrow(
      'the sealed value of OTHER was sealed for another lease (chain, user, container or name differ)',
    );
  });

  it('refuses a bad key or a bad name when sealing', async () => {
    await expect(sealEnv({ A: '1' }, 'zz', ctx)).rejects.toThrow(
      'the encryption key must be 32 bytes of hex',
    );
    await expect(sealEnv({ 'A-B': '1' }, await encKeyOf(container), ctx)).rejects.toThrow(
      '"A-B" is not a variable name (letters, digits, _)',
    );
  });
});
