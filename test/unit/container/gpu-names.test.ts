import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nameGpu, pciDeviceId } from '../../../src/container/gpu-names.js';

const DATA = new URL('../../../../shared/data/nvidia-smi/', import.meta.url);

/** (product name, PCI device ID as printed) of every GPU in the real outputs: XML files and CSV captures */
function realGpus(): Array<{ file: string; name: string; id: string }> {
  const out: Array<{ file: string; name: string; id: string }> = [];
  for (const file of readdirSync(new URL('xml/', DATA))) {
    const xml = readFileSync(new URL(`xml/${file}`, DATA), 'utf8');
    for (const m of xml.matchAll(/<product_name>([^<]*)<\/product_name>[\s\S]*?<pci_device_id>([^<]*)</g))
      out.push({ file, name: m[1]!.trim(), id: m[2]!.trim() });
  }
  for (const file of readdirSync(new URL('captures/', DATA))) {
    const text = readFileSync(new URL(`captures/${file}`, DATA), 'utf8');
    // `nvidia-smi -q`: "Product Name : …" then, in its PCI section, "Device Id : 0x233010DE"
    for (const m of text.matchAll(/Product Name\s*:\s*(.+)\n[\s\S]*?Device Id\s*:\s*(0x[0-9A-F]{8})/g))
      out.push({ file, name: m[1]!.trim(), id: m[2]! });
  }
  return out;
}

describe('gpu-names: a GPU nvidia-smi cannot name, named from its PCI device ID', () => {
  it('reads the device ID as nvidia-smi prints it (CSV and -q: 0x…10DE; XML: …10DE), and nothing else', () => {
    expect(pciDeviceId('0x233010DE')).toBe('10de:2330');
    expect(pciDeviceId('218410DE')).toBe('10de:2184');
    expect(pciDeviceId(' 0x27b810de ')).toBe('10de:27b8');
    for (const bad of [undefined, '', '[N/A]', '000000DE', '0x000010DE', '2184', '0x218410DE00', 'zzzz10DE'])
      expect(pciDeviceId(bad), String(bad)).toBeUndefined();
  });

  it('every GPU of the real nvidia-smi outputs whose ID is listed gets the name its own driver gave it; the unnamed one becomes a GTX 1660', () => {
    const gpus = realGpus();
    expect(gpus.length).toBe(40);
    let listed = 0;
    for (const g of gpus) {
      const id = pciDeviceId(g.id);
      const named = nameGpu('Graphics Device', id);
      if (named.name === 'Graphics Device') continue; // not listed (or the redacted/unset ID of a vGPU)
      listed++;
      if (g.name === 'Graphics Device') {
        expect(g.file).toBe('gtx-1660-ti.xml');
        expect(named).toEqual({ name: 'NVIDIA GeForce GTX 1660', reportedName: 'Graphics Device' });
      } else if (g.name.startsWith('GRID '))
        // a vGPU profile (GRID P4-1Q) carries its physical board's ID
        expect(named.name, g.file).toBe('Tesla P4');
      else expect(named.name, `${g.file}: ${g.id}`).toBe(g.name);
    }
    // every GPU of the outputs but two: the A10G's vGPU reports no ID, one RTX 3090's is redacted
    expect(listed).toBe(38);
  });

  it('a named GPU keeps its name; "NVIDIA Graphics Device" and an empty name are unnamed too', () => {
    expect(nameGpu('NVIDIA GeForce RTX 4090', '10de:2184')).toEqual({ name: 'NVIDIA GeForce RTX 4090' });
    expect(nameGpu('NVIDIA Graphics Device', '10de:2684')).toEqual({
      name: 'NVIDIA GeForce RTX 4090',
      reportedName: 'NVIDIA Graphics Device',
    });
    expect(nameGpu(undefined, '10de:1eb8')).toEqual({ name: 'Tesla T4', reportedName: 'unknown' });
    expect(nameGpu(undefined, undefined)).toEqual({ name: 'unknown' });
  });
});
