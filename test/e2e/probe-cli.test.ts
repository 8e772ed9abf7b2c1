import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tempHome } from './helpers.js';

/**
 * `aethir container probe` on a machine whose nvidia-smi cannot name its GPU: the driver of the real
 * ../shared/data/nvidia-smi/xml/gtx-1660-ti.xml output (418.56, CUDA 10.1) calls its card
 * "Graphics Device". A stand-in nvidia-smi on PATH answers the probe's own query with that card's
 * values; the probe names it from its PCI device ID and says so.
 */
describe('aethir container probe: a GPU the driver cannot name', () => {
  const home = tempHome('aethir-probe-');
  const bin = join(home, 'bin');

  const fakeSmi = (deviceId: string) => {
    rmSync(bin, { recursive: true, force: true });
    const script = `#!/bin/sh
case "$1" in
  --query-gpu=*)
    echo "index, name, uuid, memory.total [MiB], driver_version, compute_cap, pci.bus_id, pci.device_id, power.limit [W], mig.mode.current"
    echo "0, Graphics Device, GPU-304a277d-3545-63b8-3a36-dfde3c992989, 5912 MiB, 418.56, 7.5, 00000000:01:00.0, ${deviceId}, 120.00 W, [N/A]"
    ;;
  *)
    echo "| NVIDIA-SMI 418.56       Driver Version: 418.56       CUDA Version: 10.1     |"
    ;;
esac
`;
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'nvidia-smi'), script);
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    return { AETHIR_HOME: home, PATH: `${bin}:${process.env.PATH}` };
  };

  it('names it from its PCI device ID (a GTX 1660), keeps the driver’s word, in text and --json', async () => {
    const env = fakeSmi('0x218410DE');
    const json = await cli(['container', 'probe', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const gpu = JSON.parse(json.stdout).spec.gpus[0];
    expect(gpu).toMatchObject({
      name: 'NVIDIA GeForce GTX 1660',
      reportedName: 'Graphics Device',
      pciDeviceId: '10de:2184',
      memoryMiB: 5912,
      cudaVersion: '10.1',
    });
    const text = await cli(['container', 'probe'], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      '0: NVIDIA GeForce GTX 1660 (nvidia-smi says "Graphics Device"; named from PCI ID 10de:2184), 6 GiB, driver 418.56, CUDA 10.1',
    );
  });

  it('an ID it does not know leaves the name as the driver gave it', async () => {
    const r = await cli(['container', 'probe', '--json'], fakeSmi('0xFFFF10DE'));
    expect(r.code, r.stderr).toBe(0);
    const gpu = JSON.parse(r.stdout).spec.gpus[0];
    expect(gpu.name).toBe('Graphics Device');
    expect(gpu.reportedName).toBeUndefined();
  });
});
