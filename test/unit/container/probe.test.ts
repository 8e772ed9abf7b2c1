import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  NVIDIA_SMI_QUERY_FIELDS,
  classifyNvidiaSmiError,
  defaultRunner,
  parseCudaVersion,
  parseDriverVersion,
  parseNvidiaSmiCsv,
  parseNvidiaSmiXml,
  probeGpus,
  probeHardware,
  readCgroupLimits,
  type CommandRunner,
  type GpuInfo,
} from '../../../src/container/probe.js';

/** Real nvidia-smi output shared by the workplace (../shared/data relative to the repo root). */
const DATA = fileURLToPath(new URL('../../../../shared/data/nvidia-smi', import.meta.url));
/** Names the suite, and when the data is absent says why it is skipped (the reporter shows it). */
const realData = (dir: string, what: string): string =>
  existsSync(dir)
    ? `${what} (${dir})`
    : `${what}: SKIPPED, ${dir} not found (real data lives in ../shared/data, only in the Aethir workplace)`;

// ---------------------------------------------------------------------------------------------
// Capture helper. A capture is a sequence of blocks fenced by lines of 80 '#':
//   ######...
//   # idle :: query-gpu (csv, what the exporter parses)
//   # $ nvidia-smi --query-gpu=... --format=csv
//   ######...
//   <output>
//   [# (exit code: N)]
// ---------------------------------------------------------------------------------------------
interface CaptureSection {
  title: string;
  command?: string;
  body: string;
  exitCode: number;
}

function readCaptureSections(text: string): CaptureSection[] {
  const parts = text.split(/^#{80}\r?\n/m);
  const sections: CaptureSection[] = [];
  // parts[0] is before the first fence; then (header, body) pairs alternate.
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const header = (parts[i] as string).split(/\r?\n/);
    const title = (header[0] ?? '').replace(/^#\s*/, '').trim();
    const command = header
      .find((l) => l.startsWith('# $ '))
      ?.slice(4)
      .trim();
    let body = parts[i + 1] as string;
    let exitCode = 0;
    const exit = /^# \(exit code: (\d+)\)\s*$/m.exec(body);
    if (exit) {
      exitCode = Number(exit[1]);
      body = body.slice(0, exit.index);
    }
    sections.push({ title, ...(command ? { command } : {}), body, exitCode });
  }
  return sections;
}

function section(sections: CaptureSection[], title: string): CaptureSection {
  const s = sections.find((x) => x.title.startsWith(title));
  if (!s) throw new Error(`capture has no section "${title}"`);
  return s;
}

/** A runner that answers nvidia-smi calls from one phase ('idle' or 'load') of a capture. */
function captureRunner(sections: CaptureSection[], phase: 'idle' | 'load'): CommandRunner {
  return async (cmd, args) => {
    expect(cmd).toBe('nvidia-smi');
    const s =
      args.length === 0
        ? section(sections, `${phase} :: nvidia-smi (default table)`)
        : args[0]?.startsWith('--query-gpu=')
          ? section(sections, `${phase} :: query-gpu`)
          : args[0] === '-q'
            ? section(sections, `${phase} :: query (-q)`)
            : undefined;
    if (!s) return { code: 2, stdout: `unexpected args ${args.join(' ')}`, stderr: '' };
    return { code: s.exitCode, stdout: s.body, stderr: '' };
  };
}

/** What each real capture must parse to (read off the files by hand, one GPU each). */
const EXPECTED: Record<
  string,
  Pick<
    GpuInfo,
    'name' | 'memoryMiB' | 'driverVersion' | 'cudaVersion' | 'computeCapability' | 'powerLimitW' | 'migMode'
  >
> = {
  'linux-x86_64__nvidia-geforce-rtx-2080-super__595.71.05.txt': {
    name: 'NVIDIA GeForce RTX 2080 SUPER',
    memoryMiB: 8192,
    driverVersion: '595.71.05',
    cudaVersion: '13.2',
    computeCapability: '7.5',
    powerLimitW: 250,
    migMode: 'n/a',
  },
  'linux-x86_64__nvidia-geforce-rtx-2080-super__610.57.04.txt': {
    name: 'NVIDIA GeForce RTX 2080 SUPER',
    memoryMiB: 8192,
    driverVersion: '610.57.04',
    cudaVersion: '13.3',
    computeCapability: '7.5',
    powerLimitW: 250,
    migMode: 'n/a',
  },
  'linux-x86_64__nvidia-geforce-rtx-4080-super__595.71.05.txt': {
    name: 'NVIDIA GeForce RTX 4080 SUPER',
    memoryMiB: 16376,
    driverVersion: '595.71.05',
    cudaVersion: '13.2',
    computeCapability: '8.9',
    powerLimitW: 320,
    migMode: 'n/a',
  },
  'linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt': {
    name: 'NVIDIA H100 80GB HBM3',
    memoryMiB: 81559,
    driverVersion: '590.48.01',
    cudaVersion: '13.1',
    computeCapability: '9.0',
    powerLimitW: 700,
    migMode: 'disabled',
  },
  'linux-x86_64__nvidia-h100-mig__590.48.01.txt': {
    name: 'NVIDIA H100 80GB HBM3',
    memoryMiB: 81559,
    driverVersion: '590.48.01',
    cudaVersion: '13.1',
    computeCapability: '9.0',
    powerLimitW: 700,
    migMode: 'enabled',
  },
  'linux-x86_64__nvidia-h200-mig__590.48.01.txt': {
    name: 'NVIDIA H200',
    memoryMiB: 143771,
    driverVersion: '590.48.01',
    cudaVersion: '13.1',
    computeCapability: '9.0',
    powerLimitW: 700,
    migMode: 'enabled',
  },
  'linux-x86_64__nvidia-h200__590.48.01.txt': {
    name: 'NVIDIA H200',
    memoryMiB: 143771,
    driverVersion: '590.48.01',
    cudaVersion: '13.1',
    computeCapability: '9.0',
    powerLimitW: 700,
    migMode: 'disabled',
  },
  'linux-x86_64__nvidia-l40s__595.80.txt': {
    name: 'NVIDIA L40S',
    memoryMiB: 46068,
    driverVersion: '595.80',
    cudaVersion: '13.2',
    computeCapability: '8.9',
    powerLimitW: 350,
    migMode: 'n/a',
  },
  'windows-x86_64__nvidia-geforce-rtx-2080-super__591.86.txt': {
    name: 'NVIDIA GeForce RTX 2080 SUPER',
    memoryMiB: 8192,
    driverVersion: '591.86',
    cudaVersion: '13.1',
    computeCapability: '7.5',
    powerLimitW: 250,
    migMode: 'n/a',
  },
  'windows-x86_64__nvidia-geforce-rtx-2080-super__610.62.txt': {
    name: 'NVIDIA GeForce RTX 2080 SUPER',
    memoryMiB: 8192,
    driverVersion: '610.62',
    cudaVersion: '13.3',
    computeCapability: '7.5',
    powerLimitW: 250,
    migMode: 'n/a',
  },
};

const capturesDir = path.join(DATA, 'captures');
describe.skipIf(!existsSync(capturesDir))(realData(capturesDir, 'real nvidia-smi captures'), () => {
  const files = existsSync(capturesDir) ? readdirSync(capturesDir).filter((f) => f.endsWith('.txt')) : [];

  it('has an expectation for every capture, and a capture for every expectation', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  describe.each(files)('%s', (file) => {
    const text = readFileSync(path.join(capturesDir, file), 'utf8');
    const sections = readCaptureSections(text);
    const expected = EXPECTED[file];

    it('parses the query-gpu CSV, idle and under load, to the right GPUs', () => {
      for (const phase of ['idle', 'load'] as const) {
        const csv = section(sections, `${phase} :: query-gpu`);
        expect(csv.command).toMatch(/^nvidia-smi --query-gpu=.*--format=csv$/);
        const gpus = parseNvidiaSmiCsv(csv.body, { cudaVersion: '13.9' });
        expect(gpus).toHaveLength(1);
        const g = gpus[0] as GpuInfo;
        expect(g).toMatchObject({ ...expected, cudaVersion: '13.9', index: 0 });
        expect(g.uuid).toMatch(/^GPU-[0-9a-f-]{36}$/);
        expect(g.pciBusId).toMatch(/^[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-9A-F]$/);
      }
    });

    it('agrees with `nvidia-smi -L` on the GPU count and names (MIG instances are not GPUs)', () => {
      const list = section(sections, 'capabilities :: list (-L)').body;
      const listed = [...list.matchAll(/^GPU (\d+): (.+?) \(UUID: (GPU-[^)]+)\)/gm)];
      const gpus = parseNvidiaSmiCsv(section(sections, 'idle :: query-gpu').body);
      expect(gpus.map((g) => [g.index, g.name, g.uuid])).toEqual(
        listed.map((m) => [Number(m[1]), m[2], m[3]]),
      );
    });

    it('reads the CUDA and driver version from the plain table, -q and --version', () => {
      const plain = section(sections, 'idle :: nvidia-smi (default table)').body;
      expect(parseCudaVersion(plain)).toBe(expected?.cudaVersion);
      expect(parseCudaVersion(section(sections, 'idle :: query (-q)').body)).toBe(expected?.cudaVersion);
      expect(parseCudaVersion(section(sections, 'capabilities :: version').body)).toBe(expected?.cudaVersion);
      expect(parseDriverVersion(plain)).toBe(expected?.driverVersion);
    });

    it('the -q memory total matches the CSV', () => {
      const q = section(sections, 'idle :: query (-q)').body;
      const fbTotal = /^ {4}FB Memory Usage\s*\r?\n\s*Total\s*:\s*(\d+) MiB/m.exec(q)?.[1];
      expect(Number(fbTotal)).toBe(expected?.memoryMiB);
    });

    it('probeGpus end to end on the captured outputs (LF and Windows CRLF)', async () => {
      for (const phase of ['idle', 'load'] as const) {
        const outcome = await probeGpus(captureRunner(sections, phase));
        expect(outcome).toMatchObject({ status: 'ok', gpus: [expected] });
        expect(outcome.message).toBeUndefined();
      }
      const crlf = readCaptureSections(text.replace(/\r?\n/g, '\r\n'));
      const outcome = await probeGpus(captureRunner(crlf, 'idle'));
      expect(outcome).toMatchObject({ status: 'ok', gpus: [expected] });
    });
  });
});

const EXPECTED_XML: Record<
  string,
  { count: number; name: string; memoryMiB: number; cuda?: string; mig?: string }
> = {
  '3090-v13.xml': { count: 1, name: 'NVIDIA GeForce RTX 3090', memoryMiB: 24576, cuda: '13.1', mig: 'n/a' },
  // The file says <attached_gpus>4</attached_gpus> but holds one <gpu> (the test data was trimmed).
  'a100-sxm4-v12.xml': {
    count: 1,
    name: 'NVIDIA A100-SXM4-80GB',
    memoryMiB: 81920,
    cuda: '12.2',
    mig: 'enabled',
  },
  'a10g.xml': { count: 1, name: 'NVIDIA A10G', memoryMiB: 23028, cuda: '11.7', mig: 'n/a' },
  'dual_2070-v13.xml': { count: 2, name: 'NVIDIA GeForce RTX 2070', memoryMiB: 8192, cuda: '13.1' },
  'dual_2080-v13.xml': { count: 2, name: 'NVIDIA GeForce RTX 2080', memoryMiB: 8192, cuda: '13.1' },
  'dual_a5000-v13.xml': { count: 2, name: 'NVIDIA RTX A5000', memoryMiB: 24564, cuda: '13.1' },
  'gt-1030.xml': { count: 1, name: 'NVIDIA GeForce GT 1030', memoryMiB: 1998, cuda: '11.4' },
  // A minimal file: no driver or CUDA version at all.
  'gtx-1070-ti.xml': { count: 1, name: 'GeForce GTX 1070 Ti', memoryMiB: 4096 },
  // its driver could not name it ("Graphics Device"); PCI device 10de:2184, with GDDR5 at 4,001 MHz:
  // a GTX 1660, not the Ti the file's name says (gpu-names.ts)
  'gtx-1660-ti.xml': { count: 1, name: 'NVIDIA GeForce GTX 1660', memoryMiB: 5912, cuda: '10.1' },
  'pro-6000-maxq-blackwell-v13.xml': {
    count: 1,
    name: 'NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition',
    memoryMiB: 97887,
    cuda: '13.1',
  },
  'quadro-p2000-v12.xml': { count: 1, name: 'Quadro P2000', memoryMiB: 5120, cuda: '12.0' },
  'quadro-p400.xml': { count: 1, name: 'Quadro P400', memoryMiB: 1998, cuda: '10.1' },
  'rtx-3060-v12.xml': { count: 1, name: 'NVIDIA GeForce RTX 3060', memoryMiB: 12288, cuda: '12.8' },
  'rtx-3080-v12.xml': { count: 1, name: 'NVIDIA GeForce RTX 3080', memoryMiB: 10240, cuda: '12.2' },
  'rtx-3090-v12.xml': { count: 1, name: 'NVIDIA GeForce RTX 3090', memoryMiB: 24576, cuda: '12.0' },
  'rtx-4000-sff-ada-v13.xml': {
    count: 1,
    name: 'NVIDIA RTX 4000 SFF Ada Generation',
    memoryMiB: 20475,
    cuda: '13.2',
  },
  'tesla-t4.xml': { count: 1, name: 'Tesla T4', memoryMiB: 15360, cuda: '11.7' },
  'tesla_p4.xml': { count: 1, name: 'GRID P4-1Q', memoryMiB: 1024, cuda: '11.6' },
};

const xmlDir = path.join(DATA, 'xml');
describe.skipIf(!existsSync(xmlDir))(realData(xmlDir, 'real nvidia-smi -q -x outputs'), () => {
  const files = existsSync(xmlDir) ? readdirSync(xmlDir).filter((f) => f.endsWith('.xml')) : [];

  it('has an expectation for every XML file', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED_XML).sort());
  });

  it.each(files)('%s', (file) => {
    const xml = readFileSync(path.join(xmlDir, file), 'utf8');
    const e = EXPECTED_XML[file];
    const gpus = parseNvidiaSmiXml(xml);
    expect(gpus).toHaveLength(e?.count ?? -1);
    for (const [i, g] of gpus.entries()) {
      expect(g.index).toBe(i);
      expect(g.name).toBe(e?.name);
      expect(g.memoryMiB).toBe(e?.memoryMiB);
      expect(g.uuid).toMatch(/^GPU-[0-9a-f-]{36}$/);
      expect(g.cudaVersion).toBe(e?.cuda);
      expect(g.driverVersion).toBe(/<driver_version>([^<]*)</.exec(xml)?.[1] ?? '');
      if (e?.mig) expect(g.migMode).toBe(e.mig);
    }
    expect(parseCudaVersion(xml)).toBe(e?.cuda);
  });

  it('reads power limits in both the old and the new layout, and N/A as absent', () => {
    const read = (f: string) => parseNvidiaSmiXml(readFileSync(path.join(xmlDir, f), 'utf8'))[0]?.powerLimitW;
    expect(read('tesla-t4.xml')).toBe(70); // <power_readings><power_limit>
    expect(read('3090-v13.xml')).toBe(350); // <gpu_power_readings><current_power_limit>
    expect(read('quadro-p400.xml')).toBeUndefined(); // <power_limit>N/A</power_limit>
  });
});

/** Which errorKind each real failure message must map to. */
const EXPECTED_ERRORS: Record<string, string> = {
  'device-handle-unknown-error-nospace.txt': 'gpu-lost',
  'device-handle-unknown-error.txt': 'gpu-lost',
  'no-devices.txt': 'no-devices',
  'no-driver.txt': 'no-driver',
  'nvml-version-mismatch-with-lib-version.txt': 'driver-library-mismatch',
  'nvml-version-mismatch.txt': 'driver-library-mismatch',
};

const errorsDir = path.join(DATA, 'errors');
describe.skipIf(!existsSync(errorsDir))(realData(errorsDir, 'real nvidia-smi failure messages'), () => {
  const files = existsSync(errorsDir) ? readdirSync(errorsDir).filter((f) => f.endsWith('.txt')) : [];

  it('has an expectation for every error file', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED_ERRORS).sort());
  });

  it.each(files)('%s', async (file) => {
    const text = readFileSync(path.join(errorsDir, file), 'utf8');
    const kind = EXPECTED_ERRORS[file];
    // The text decides, whatever the exit code (they differ between driver versions).
    for (const code of [255, 9, null]) {
      const outcome = classifyNvidiaSmiError(text, code);
      expect(outcome).toMatchObject({ status: 'error', errorKind: kind, gpus: [] });
      expect(outcome.message?.length).toBeGreaterThan(20);
    }
    // And probeGpus reports it the same way whether nvidia-smi printed it to stdout or stderr.
    for (const stream of ['stdout', 'stderr'] as const) {
      const runner: CommandRunner = async () => ({ code: 255, stdout: '', stderr: '', [stream]: text });
      await expect(probeGpus(runner)).resolves.toMatchObject({ status: 'error', errorKind: kind, gpus: [] });
    }
  });

  it('messages name the details the operator needs', () => {
    const read = (f: string) => readFileSync(path.join(errorsDir, f), 'utf8');
    expect(classifyNvidiaSmiError(read('device-handle-unknown-error.txt'), 15).message).toContain(
      '0000:0B:00.0',
    );
    expect(classifyNvidiaSmiError(read('device-handle-unknown-error-nospace.txt'), 15).message).toContain(
      '0000:07:00.0',
    );
    expect(classifyNvidiaSmiError(read('nvml-version-mismatch-with-lib-version.txt'), 18).message).toContain(
      '570.124',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-written cases: formats and failures the captures do not cover.
// ---------------------------------------------------------------------------------------------
describe('parseNvidiaSmiCsv', () => {
  const header =
    'index, name, uuid, memory.total [MiB], driver_version, compute_cap, pci.bus_id, power.limit [W], mig.mode.current';

  it('parses our own query with several GPUs and unavailable values', () => {
    const csv = [
      header,
      '0, NVIDIA H100 80GB HBM3, GPU-aaaaaaaa-0000-0000-0000-000000000000, 81559 MiB, 550.54.15, 9.0, 00000000:18:00.0, 700.00 W, Disabled',
      '1, NVIDIA H100 80GB HBM3, GPU-bbbbbbbb-0000-0000-0000-000000000000, 81559 MiB, 550.54.15, [Not Supported], 00000000:2A:00.0, [N/A], [N/A]',
    ].join('\n');
    const gpus = parseNvidiaSmiCsv(csv, { cudaVersion: '12.4' });
    expect(gpus).toEqual([
      {
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        uuid: 'GPU-aaaaaaaa-0000-0000-0000-000000000000',
        memoryMiB: 81559,
        driverVersion: '550.54.15',
        cudaVersion: '12.4',
        computeCapability: '9.0',
        pciBusId: '00000000:18:00.0',
        powerLimitW: 700,
        migMode: 'disabled',
      },
      {
        index: 1,
        name: 'NVIDIA H100 80GB HBM3',
        uuid: 'GPU-bbbbbbbb-0000-0000-0000-000000000000',
        memoryMiB: 81559,
        driverVersion: '550.54.15',
        cudaVersion: '12.4',
        pciBusId: '00000000:2A:00.0',
        migMode: 'n/a',
      },
    ]);
  });

  it('accepts noheader,nounits output in the order of NVIDIA_SMI_QUERY_FIELDS', () => {
    const csv =
      '3, NVIDIA L40S, GPU-cccccccc-0000-0000-0000-000000000000, 46068, 595.80, 8.9, 00000000:01:00.0, 0x26B910DE, 350.00, [N/A]\r\n';
    expect(parseNvidiaSmiCsv(csv)).toEqual([
      {
        index: 3,
        name: 'NVIDIA L40S',
        uuid: 'GPU-cccccccc-0000-0000-0000-000000000000',
        memoryMiB: 46068,
        driverVersion: '595.80',
        computeCapability: '8.9',
        pciBusId: '00000000:01:00.0',
        pciDeviceId: '10de:26b9',
        powerLimitW: 350,
        migMode: 'n/a',
      },
    ]);
  });

  it('names a GPU that nvidia-smi calls "Graphics Device" from its PCI device ID, keeping what it reported; an unknown ID keeps the name', () => {
    const fields = ['index', 'name', 'uuid', 'memory.total', 'driver_version', 'pci.device_id'];
    const row = (name: string, id: string) =>
      `0, ${name}, GPU-ffffffff-0000-0000-0000-000000000000, 5912, 418.56, ${id}`;
    expect(parseNvidiaSmiCsv(row('Graphics Device', '0x218410DE'), { fields })[0]).toMatchObject({
      name: 'NVIDIA GeForce GTX 1660',
      reportedName: 'Graphics Device',
      pciDeviceId: '10de:2184',
    });
    // a named GPU keeps its name whatever its ID says
    expect(parseNvidiaSmiCsv(row('NVIDIA GeForce GTX 1660 Ti', '0x218410DE'), { fields })[0]).toMatchObject({
      name: 'NVIDIA GeForce GTX 1660 Ti',
    });
    for (const id of [
      '0xFFFF10DE', // an ID nobody listed
      '0x21841002', // not NVIDIA's vendor ID
      '0x000000DE', // a vGPU's unset ID (a10g.xml)
      '[N/A]',
      'x; rm -rf /',
    ]) {
      const [g] = parseNvidiaSmiCsv(row('Graphics Device', id), { fields });
      expect(g!.name, id).toBe('Graphics Device');
      expect(g!.reportedName, id).toBeUndefined();
    }
  });

  it('parses output of a driver that rejected compute_cap (queried without it)', () => {
    const fields = NVIDIA_SMI_QUERY_FIELDS.filter((f) => f !== 'compute_cap');
    const csv =
      '0, Tesla V100-SXM2-16GB, GPU-dddddddd-0000-0000-0000-000000000000, 16160, 470.82.01, 00000000:00:1E.0, 0x1DB110DE, 300.00, N/A';
    const [g] = parseNvidiaSmiCsv(csv, { fields });
    expect(g).toMatchObject({
      name: 'Tesla V100-SXM2-16GB',
      memoryMiB: 16160,
      powerLimitW: 300,
      migMode: 'n/a',
    });
    expect(g?.computeCapability).toBeUndefined();
  });

  it('keeps a comma inside a product name', () => {
    const csv = `${header}\n0, Odd GPU, Rev 2, GPU-eeeeeeee-0000-0000-0000-000000000000, 1024 MiB, 1.0, 8.6, 00000000:01:00.0, 10.00 W, [N/A]`;
    expect(parseNvidiaSmiCsv(csv)[0]).toMatchObject({ name: 'Odd GPU, Rev 2', memoryMiB: 1024 });
  });

  it('returns no GPUs for empty output and refuses what is not a GPU table', () => {
    expect(parseNvidiaSmiCsv('')).toEqual([]);
    expect(() => parseNvidiaSmiCsv('index, name\n0, x')).toThrow(/no "uuid" column/);
    expect(() => parseNvidiaSmiCsv(`${header}\n0, short row`)).toThrow(
      expect.objectContaining({ code: 'PROBE_FAILED' }),
    );
  });
});

describe('parseCudaVersion', () => {
  it('reads every label form and ignores the deprecated placeholder', () => {
    expect(
      parseCudaVersion('| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |'),
    ).toBe('12.4');
    expect(
      parseCudaVersion(
        'CUDA version        : Deprecated, see "CUDA UMD version" instead\nCUDA UMD version    : 13.3',
      ),
    ).toBe('13.3');
    expect(parseCudaVersion('CUDA Version : N/A')).toBeUndefined();
    expect(parseCudaVersion('')).toBeUndefined();
  });
});

describe('classifyNvidiaSmiError', () => {
  it('recognises the other common failures', () => {
    expect(
      classifyNvidiaSmiError("NVIDIA-SMI couldn't find libnvidia-ml.so library in your system.", 12),
    ).toMatchObject({
      errorKind: 'no-driver',
    });
    expect(
      classifyNvidiaSmiError(
        'Unable to determine the device handle for gpu 0000:3B:00.0: GPU is lost.  Reboot the system',
        15,
      ),
    ).toMatchObject({ errorKind: 'gpu-lost' });
    expect(classifyNvidiaSmiError('', 9)).toMatchObject({ errorKind: 'no-driver' });
    expect(classifyNvidiaSmiError('', 6)).toMatchObject({ errorKind: 'no-devices' });
    expect(classifyNvidiaSmiError('/bin/sh: 1: nvidia-smi: not found', 127)).toMatchObject({
      status: 'no-nvidia-smi',
      gpus: [],
    });
  });

  it('falls back to unknown with the first line of output', () => {
    const out = classifyNvidiaSmiError('\nFailed to initialize NVML: Unknown Error\n', 255);
    expect(out).toMatchObject({ status: 'error', errorKind: 'unknown', gpus: [] });
    expect(out.message).toContain('Failed to initialize NVML: Unknown Error');
    expect(classifyNvidiaSmiError('something new', 3).message).toBe(
      'nvidia-smi failed with exit code 3: something new',
    );
  });
});

describe('probeGpus', () => {
  const okCsv = [
    'index, name, uuid, memory.total [MiB], driver_version, pci.bus_id, power.limit [W], mig.mode.current',
    '0, Tesla V100-SXM2-16GB, GPU-dddddddd-0000-0000-0000-000000000000, 16160 MiB, 470.82.01, 00000000:00:1E.0, 300.00 W, Disabled',
  ].join('\n');
  const plain = '| NVIDIA-SMI 470.82.01    Driver Version: 470.82.01    CUDA Version: 11.4     |';

  it('gives zero GPUs and no error when nvidia-smi is missing (a CPU-only container)', async () => {
    const runner: CommandRunner = async () => ({
      code: null,
      stdout: '',
      stderr: 'spawn nvidia-smi ENOENT',
      notFound: true,
    });
    await expect(probeGpus(runner)).resolves.toEqual({
      gpus: [],
      status: 'no-nvidia-smi',
      message: 'nvidia-smi is not installed or not on PATH',
    });
  });

  it('retries without a field an old driver rejects, and says so', async () => {
    const calls: string[][] = [];
    const runner: CommandRunner = async (_cmd, args) => {
      calls.push(args);
      if (args.length === 0) return { code: 0, stdout: plain, stderr: '' };
      if (args[0]?.includes('compute_cap')) {
        return { code: 2, stdout: 'Field "compute_cap" is not a valid field to query.\n\n', stderr: '' };
      }
      return { code: 0, stdout: okCsv, stderr: '' };
    };
    const out = await probeGpus(runner);
    expect(out.status).toBe('ok');
    expect(out.gpus).toEqual([
      {
        index: 0,
        name: 'Tesla V100-SXM2-16GB',
        uuid: 'GPU-dddddddd-0000-0000-0000-000000000000',
        memoryMiB: 16160,
        driverVersion: '470.82.01',
        cudaVersion: '11.4',
        pciBusId: '00000000:00:1E.0',
        powerLimitW: 300,
        migMode: 'disabled',
      },
    ]);
    expect(out.message).toMatch(/compute_cap/);
    expect(calls).toHaveLength(3);
    expect(calls[1]?.[0]).toBe(
      `--query-gpu=${NVIDIA_SMI_QUERY_FIELDS.filter((f) => f !== 'compute_cap').join(',')}`,
    );
  });

  it('does not loop when a required field is rejected', async () => {
    const runner: CommandRunner = async () => ({
      code: 2,
      stdout: 'Field "uuid" is not a valid field to query.',
      stderr: '',
    });
    await expect(probeGpus(runner)).resolves.toMatchObject({
      status: 'error',
      errorKind: 'unknown',
      gpus: [],
    });
  });

  it('still lists the GPUs when the CUDA version cannot be read', async () => {
    const runner: CommandRunner = async (_cmd, args) =>
      args.length === 0 ? { code: 255, stdout: '', stderr: 'boom' } : { code: 0, stdout: okCsv, stderr: '' };
    const out = await probeGpus(runner);
    expect(out.status).toBe('ok');
    expect(out.gpus[0]?.cudaVersion).toBeUndefined();
    expect(out.message).toMatch(/CUDA version/);
  });

  it('never throws, even on garbage or a runner that rejects', async () => {
    const garbage: CommandRunner = async () => ({
      code: 0,
      stdout: 'index, name, uuid, memory.total\n1,2',
      stderr: '',
    });
    await expect(probeGpus(garbage)).resolves.toMatchObject({
      status: 'error',
      errorKind: 'unknown',
      gpus: [],
    });
    const rejecting: CommandRunner = async () => {
      throw new Error('runner exploded');
    };
    await expect(probeGpus(rejecting)).resolves.toMatchObject({
      status: 'error',
      message: /runner exploded/,
    });
  });

  it('treats exit 0 with "No devices were found" as no-devices', async () => {
    const runner: CommandRunner = async () => ({ code: 0, stdout: 'No devices were found\n', stderr: '' });
    await expect(probeGpus(runner)).resolves.toMatchObject({ status: 'error', errorKind: 'no-devices' });
  });
});

describe('defaultRunner', () => {
  it('reports a missing command as notFound instead of throwing', async () => {
    const res = await defaultRunner('aethir-no-such-command-4f1c', []);
    expect(res).toMatchObject({ code: null, notFound: true });
  });

  it('returns exit code and output of a real command', async () => {
    const res = await defaultRunner(process.execPath, ['-e', 'process.stdout.write("hi"); process.exit(3)']);
    expect(res).toMatchObject({ code: 3, stdout: 'hi' });
  });
});

describe('readCgroupLimits', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'aethir-cgroup-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('reads cgroup v2 limits, and "max" as no limit', async () => {
    const v2 = path.join(tmp, 'v2');
    mkdirSync(v2);
    writeFileSync(path.join(v2, 'cpu.max'), '150000 100000\n');
    writeFileSync(path.join(v2, 'memory.max'), `${8 * 1024 ** 3}\n`);
    await expect(readCgroupLimits(v2)).resolves.toEqual({ cpus: 1.5, memoryBytes: 8 * 1024 ** 3 });
    writeFileSync(path.join(v2, 'cpu.max'), 'max 100000\n');
    writeFileSync(path.join(v2, 'memory.max'), 'max\n');
    await expect(readCgroupLimits(v2)).resolves.toEqual({});
  });

  it('reads cgroup v1 limits, and its huge "unlimited" number as no limit', async () => {
    const v1 = path.join(tmp, 'v1');
    mkdirSync(path.join(v1, 'cpu'), { recursive: true });
    mkdirSync(path.join(v1, 'memory'));
    writeFileSync(path.join(v1, 'cpu', 'cpu.cfs_quota_us'), '-1\n');
    writeFileSync(path.join(v1, 'cpu', 'cpu.cfs_period_us'), '100000\n');
    writeFileSync(path.join(v1, 'memory', 'memory.limit_in_bytes'), '9223372036854771712\n');
    await expect(readCgroupLimits(v1)).resolves.toEqual({});
    writeFileSync(path.join(v1, 'cpu', 'cpu.cfs_quota_us'), '400000\n');
    writeFileSync(path.join(v1, 'memory', 'memory.limit_in_bytes'), '1073741824\n');
    await expect(readCgroupLimits(v1)).resolves.toEqual({ cpus: 4, memoryBytes: 1073741824 });
  });

  it('applies the limits in probeHardware and warns', async () => {
    const lim = path.join(tmp, 'lim');
    mkdirSync(lim);
    writeFileSync(path.join(lim, 'cpu.max'), '50000 100000\n');
    writeFileSync(path.join(lim, 'memory.max'), `${256 * 1024 * 1024}\n`);
    const missing: CommandRunner = async () => ({ code: null, stdout: '', stderr: '', notFound: true });
    const res = await probeHardware(missing, { cgroupRoot: lim });
    expect(res.spec.cpu.cores).toBe(1);
    expect(res.spec.memoryMiB).toBe(Math.min(256, Math.floor(os.totalmem() / 1024 / 1024)));
    expect(res.warnings.some((w) => w.includes('cgroup'))).toBe(true);
  });
});

describe('probeHardware on this machine', () => {
  it('returns the real CPU, memory, disk and OS; no GPU here is not an error', async () => {
    const res = await probeHardware();
    expect(res.spec.cpu.model).not.toBe('unknown');
    expect(res.spec.cpu.model.length).toBeGreaterThan(0);
    expect(Number.isInteger(res.spec.cpu.cores)).toBe(true);
    expect(res.spec.cpu.cores).toBeGreaterThan(0);
    expect(res.spec.cpu.cores).toBeLessThanOrEqual(os.cpus().length || os.availableParallelism());
    expect(res.spec.cpu.arch).toBe(os.arch());
    expect(Number.isInteger(res.spec.memoryMiB)).toBe(true);
    expect(res.spec.memoryMiB).toBeGreaterThan(0);
    expect(res.spec.diskFreeMiB).toBeGreaterThanOrEqual(0);
    expect(res.spec.os).toEqual({ platform: os.platform(), release: os.release(), hostname: os.hostname() });
    // A GPU machine reports 'ok' with GPUs; a CPU-only one 'no-nvidia-smi' (or an error if it
    // has nvidia-smi but no driver). Either way the GPU list matches the probe.
    expect(res.spec.gpus).toBe(res.gpuProbe.gpus);
    if (res.gpuProbe.status === 'ok') expect(res.spec.gpus.length).toBeGreaterThan(0);
    else expect(res.spec.gpus).toEqual([]);
  });

  it('warns instead of failing when the disk cannot be read', async () => {
    const missing: CommandRunner = async () => ({ code: null, stdout: '', stderr: '', notFound: true });
    const res = await probeHardware(missing, {
      diskPath: path.join(os.tmpdir(), 'aethir-no-such-dir-9b2e', 'x'),
    });
    expect(res.spec.diskFreeMiB).toBeUndefined();
    expect(res.warnings.some((w) => w.includes('free disk space'))).toBe(true);
    expect(res.gpuProbe.status).toBe('no-nvidia-smi');
  });
});
