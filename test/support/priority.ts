import os from 'node:os';

/**
 * The unit files run beside the deadline racers (vitest.config.ts): their worker yields the CPU to
 * the racers' devnets and provers (nice 10: about a tenth of a core against a nice-0 process that
 * wants it, enough for a unit test's own short deadlines). The racers' workers, and every process
 * they start, run at the normal priority even in a process a unit file had niced. Lowering the nice
 * value needs root (CI and the VM are root); where it is refused the racers run as niced as the
 * unit files, never more.
 */
export function setWorkerPriority(nice: number): void {
  try {
    os.setPriority(nice);
  } catch {
    // not permitted (an unprivileged user raising priority): keep what we have
  }
}
