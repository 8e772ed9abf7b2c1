import type { Workload } from './payloads.js';

/**
 * A workload as the public sees it: its env's names, never its values (neither clear ones, from
 * networks that still take them, nor sealed ones).
 */
export function publicWorkload(w: Workload): Record<string, unknown> {
  const { env, sealedEnv, ...rest } = w;
  const names = [...Object.keys(env ?? {}), ...Object.keys(sealedEnv ?? {})].sort();
  return { ...rest, ...(names.length ? { envNames: names } : {}) };
}

/** A lease.open payload as the public sees it (stored transactions included): env names only. */
export function publicOpenPayload(p: Record<string, unknown>): Record<string, unknown> {
  const w = p.workload as Workload | undefined;
  if (!w || typeof w !== 'object' || (!w.env && !w.sealedEnv)) return p;
  return { ...p, workload: publicWorkload(w) };
}

/** What of a payload the public may not see, per transaction type (the registry gathers these). */
export const publicPayloads = { 'lease.open': publicOpenPayload };
