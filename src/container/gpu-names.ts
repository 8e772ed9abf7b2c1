/**
 * What a GPU is called when nvidia-smi cannot name it. A driver older than the card reports its
 * product name as "Graphics Device" (../shared/data/nvidia-smi/xml/gtx-1660-ti.xml, a GTX 1660:
 * PCI device 10de:2184), and a claim of "Graphics Device" is sized for its class's reference part,
 * so an honest small card failed its own check (docs/verification.md). The PCI device ID still
 * says which chip and board it is.
 *
 * Names as nvidia-smi gives them for each device ID. IDs seen in the real outputs of
 * ../shared/data/nvidia-smi (test/unit/container/gpu-names.test.ts checks those against their
 * product names), and the other boards of the parts the capacity check has figures for, from the
 * PCI ID Repository (pci-ids.ucw.cz, vendor 10de). A wrong or missing entry costs nothing more
 * than before: the name is only a claim, and the check verifies it.
 */
const BY_DEVICE_ID: Readonly<Record<string, string>> = {
  // seen in ../shared/data/nvidia-smi
  '2330': 'NVIDIA H100 80GB HBM3',
  '20b2': 'NVIDIA A100-SXM4-80GB',
  '2204': 'NVIDIA GeForce RTX 3090',
  '2216': 'NVIDIA GeForce RTX 3080',
  '2231': 'NVIDIA RTX A5000',
  '2487': 'NVIDIA GeForce RTX 3060',
  '27b0': 'NVIDIA RTX 4000 SFF Ada Generation',
  '1e87': 'NVIDIA GeForce RTX 2080',
  '1f02': 'NVIDIA GeForce RTX 2070',
  '1eb8': 'Tesla T4',
  '1bb3': 'Tesla P4',
  '1c30': 'Quadro P2000',
  '1cb3': 'Quadro P400',
  '1d01': 'NVIDIA GeForce GT 1030',
  '2184': 'NVIDIA GeForce GTX 1660',
  '2335': 'NVIDIA H200',
  '2702': 'NVIDIA GeForce RTX 4080 SUPER',
  '1e81': 'NVIDIA GeForce RTX 2080 SUPER',
  '2bb4': 'NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition',
  // the PCI ID Repository
  '2331': 'NVIDIA H100 PCIe',
  '20b0': 'NVIDIA A100-SXM4-40GB',
  '20b5': 'NVIDIA A100 80GB PCIe',
  '20f1': 'NVIDIA A100-PCIE-40GB',
  '26b9': 'NVIDIA L40S',
  '27b8': 'NVIDIA L4',
  '2236': 'NVIDIA A10',
  '2237': 'NVIDIA A10G',
  '2235': 'NVIDIA A40',
  '2230': 'NVIDIA RTX A6000',
  '2684': 'NVIDIA GeForce RTX 4090',
  '1db4': 'Tesla V100-PCIE-16GB',
  '1db1': 'Tesla V100-SXM2-16GB',
  '15f7': 'Tesla P100-PCIE-12GB',
  '15f8': 'Tesla P100-PCIE-16GB',
  '1b38': 'Tesla P40',
  '1b06': 'NVIDIA GeForce GTX 1080 Ti',
  '1b80': 'NVIDIA GeForce GTX 1080',
  '1b81': 'NVIDIA GeForce GTX 1070',
  '1b82': 'NVIDIA GeForce GTX 1070 Ti',
  '2182': 'NVIDIA GeForce GTX 1660 Ti',
  '21c4': 'NVIDIA GeForce GTX 1660 SUPER',
};

/**
 * "10de:2184" from what nvidia-smi prints as the PCI device ID: "0x218410DE" (CSV, `-q`) or
 * "218410DE" (XML): the device in the high 16 bits, the vendor (10DE, NVIDIA) in the low ones.
 * Undefined for anything else, an unset ID ("000000DE", a vGPU's) included.
 */
export function pciDeviceId(raw: string | undefined): string | undefined {
  const m = /^(?:0x)?([0-9a-f]{4})([0-9a-f]{4})$/i.exec(raw?.trim() ?? '');
  if (!m || m[1] === '0000') return undefined;
  return `${m[2]!.toLowerCase()}:${m[1]!.toLowerCase()}`;
}

/** nvidia-smi's placeholders for a product it cannot name. */
const UNNAMED = /^(nvidia )?(graphics device|unknown)$/i;

/**
 * The name to advertise: nvidia-smi's, or where it gives none (or "Graphics Device") the board its
 * NVIDIA PCI device ID names, with the reported name kept as `reportedName`.
 */
export function nameGpu(
  reported: string | undefined,
  deviceId: string | undefined,
): { name: string; reportedName?: string } {
  const name = reported ?? 'unknown';
  if (!UNNAMED.test(name) || !deviceId?.startsWith('10de:')) return { name };
  const known = BY_DEVICE_ID[deviceId.slice(5)];
  return known ? { name: known, reportedName: name } : { name };
}
