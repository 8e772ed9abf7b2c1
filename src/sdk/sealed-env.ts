import { AethirError } from '../core/errors.js';
import { sealEnv } from '../core/seal.js';
import type { ContainerView } from './client.js';

/**
 * Env values for a lease, sealed to the matched container's X25519 key (bound to the chain, the
 * user and the container): only that container reads them; they never leave this machine in
 * clear. Nothing (undefined) when there are none. `rent` and `deploy` seal through this.
 */
export async function sealedEnvFor(
  env: Record<string, string> | undefined,
  c: ContainerView,
  chainId: string,
  user: string,
): Promise<{ sealedEnv: Record<string, string> } | undefined> {
  if (!env || Object.keys(env).length === 0) return undefined;
  if (!c.encKey)
    throw new AethirError(
      'INVALID_ARGUMENT',
      `container ${c.name} registered no encryption key, so it cannot receive env values; nothing was opened`,
    );
  return { sealedEnv: await sealEnv(env, c.encKey, { chainId, user, container: c.id }) };
}
