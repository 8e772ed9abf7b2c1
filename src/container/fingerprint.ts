import { networkInterfaces } from 'node:os';
import { sha256Hex } from '../core/encoding.js';
import type { HardwareSpec } from './probe.js';

/**
 * A stable identity of this machine: the MAC addresses of its physical interfaces, its CPU
 * model and core count, and its GPUs' UUIDs. The container key is chosen by it, so a machine
 * whose hardware changed (another GPU, another board) is a new container that must register
 * and stake again, while a restart or a new IP address changes nothing.
 */
export function fingerprintOf(
  spec: Pick<HardwareSpec, 'cpu' | 'gpus'>,
  macs: string[] = localMacs(),
): string {
  const parts = {
    macs: [...new Set(macs.map((m) => m.toLowerCase()))].sort(),
    cpu: `${spec.cpu.model}/${spec.cpu.cores}`,
    gpus: spec.gpus.map((g) => g.uuid || `${g.name}#${g.index}`).sort(),
  };
  return sha256Hex(JSON.stringify(parts));
}

/** MACs of the non-internal interfaces (virtual ones of container runtimes left out). */
export function localMacs(): string[] {
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (/^(lo|docker|veth|br-|cni|podman|virbr)/.test(name)) continue;
    for (const a of addrs ?? []) if (!a.internal && a.mac && a.mac !== '00:00:00:00:00:00') out.push(a.mac);
  }
  return out;
}
