/**
 * The container's real hardware probe: CPU, memory, disk and OS from Node, GPUs from nvidia-smi.
 *
 * A probe never throws on a broken or missing GPU stack: a CPU-only machine is a valid container,
 * and a machine whose driver is broken must still be able to say so (status 'error' with a kind
 * the operator can act on) instead of crashing the node on start.
 *
 * Formats were checked against real captures (utkuozdemir/nvidia_gpu_exporter, telegraf test
 * data; see ../shared/data/README.md): drivers 418 to 610, Linux and Windows, H100/H200 with and
 * without MIG, L40S, GeForce cards.
 */
import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AethirError } from '../core/errors.js';
import { nameGpu, pciDeviceId } from './gpu-names.js';

export interface GpuInfo {
  index: number;
  name: string;
  uuid: string;
  memoryMiB: number;
  driverVersion: string;
  cudaVersion?: string;
  computeCapability?: string;
  pciBusId?: string;
  /** "10de:2184": the PCI vendor and device, what names a GPU nvidia-smi calls "Graphics Device" */
  pciDeviceId?: string;
  /** nvidia-smi's own name where `name` comes from the PCI device ID instead (gpu-names.ts) */
  reportedName?: string;
  powerLimitW?: number;
  migMode?: 'enabled' | 'disabled' | 'n/a';
}

export interface CpuInfo {
  model: string;
  cores: number;
  /** Node's naming (`os.arch()`): 'x64', 'arm64', ... */
  arch: string;
}

export interface HardwareSpec {
  cpu: CpuInfo;
  memoryMiB: number;
  diskFreeMiB?: number;
  os: { platform: string; release: string; hostname: string };
  gpus: GpuInfo[];
}

export type GpuErrorKind = 'no-driver' | 'driver-library-mismatch' | 'no-devices' | 'gpu-lost' | 'unknown';

export interface GpuProbeOutcome {
  gpus: GpuInfo[];
  status: 'ok' | 'no-nvidia-smi' | 'error';
  /** Human-readable; on 'ok' it carries caveats (a field the driver could not report). */
  message?: string;
  errorKind?: GpuErrorKind;
}

export interface ProbeResult {
  spec: HardwareSpec;
  gpuProbe: GpuProbeOutcome;
  warnings: string[];
}

/** Runs a command, resolves {code, stdout, stderr}; code null + ENOENT-style error when not found. Injected so tests can feed captured outputs. */
export type CommandRunner = (
  cmd: string,
  args: string[],
) => Promise<{ code: number | null; stdout: string; stderr: string; notFound?: boolean }>;

/** nvidia-smi can hang for minutes on a GPU in a bad state; a probe must not. */
export const RUNNER_TIMEOUT_MS = 10_000;

export const defaultRunner: CommandRunner = (cmd, args) =>
  new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: RUNNER_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, windowsHide: true, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        // execFile's error carries a string `code` for spawn failures and a number for exit codes.
        const e = err as NodeJS.ErrnoException & {
          code?: string | number;
          killed?: boolean;
          signal?: string;
        };
        if (e.code === 'ENOENT') {
          resolve({ code: null, stdout: '', stderr: `${cmd}: ${e.message}`, notFound: true });
        } else if (typeof e.code === 'number') {
          resolve({ code: e.code, stdout, stderr });
        } else if (e.killed || e.signal) {
          const why = e.killed ? `timed out after ${RUNNER_TIMEOUT_MS} ms` : `killed by ${e.signal}`;
          resolve({ code: null, stdout, stderr: `${stderr}${stderr ? '\n' : ''}${cmd} ${why}` });
        } else {
          resolve({ code: null, stdout, stderr: `${stderr}${stderr ? '\n' : ''}${cmd}: ${e.message}` });
        }
      },
    );
  });

/**
 * The --query-gpu fields used. compute_cap is the young one: 470-series drivers (still common
 * on older hosts) reject the whole query with `Field "compute_cap" is not a valid field to
 * query.` and exit 2, so {@link probeGpus} retries without whichever optional field is named.
 * driver_version is deprecated from 610 in favour of kmd_version, but 590 lacks kmd_version, so
 * the old name is the one every driver in the captures answers.
 */
export const NVIDIA_SMI_QUERY_FIELDS: string[] = [
  'index',
  'name',
  'uuid',
  'memory.total',
  'driver_version',
  'compute_cap',
  'pci.bus_id',
  'pci.device_id',
  'power.limit',
  'mig.mode.current',
];

/** Fields a GPU cannot be described without; the others are dropped if the driver rejects them. */
const REQUIRED_FIELDS = new Set(['index', 'name', 'uuid', 'memory.total', 'driver_version']);

/** nvidia-smi accepts several names for some fields and echoes the one asked for in the header. */
const FIELD_ALIASES: Record<string, string> = {
  gpu_name: 'name',
  gpu_uuid: 'uuid',
  gpu_bus_id: 'pci.bus_id',
  'gpu.power.requested_limit': 'power.limit',
  kmd_version: 'driver_version',
};

/**
 * Unavailable values: "[N/A]", "[Not Supported]", "[Unknown Error]", "[Requested functionality
 * has been deprecated]" (all seen in the captures) and the bare "N/A" of nounits/XML output.
 */
function isUnavailable(v: string | undefined): boolean {
  if (v === undefined) return true;
  const t = v.trim();
  return t === '' || /^\[.*\]$/.test(t) || /^(n\/a|not supported|unknown error)$/i.test(t);
}

function cleanString(v: string | undefined): string | undefined {
  return isUnavailable(v) ? undefined : (v as string).trim();
}

/** "81559 MiB", "81559" (nounits), "700.00 W", "[N/A]" -> number or undefined. */
function parseQuantity(v: string | undefined): { value: number; unit: string } | undefined {
  if (isUnavailable(v)) return undefined;
  const m = /^(-?\d+(?:\.\d+)?)\s*([A-Za-z%]*)$/.exec((v as string).trim());
  if (!m) return undefined;
  return { value: Number(m[1]), unit: (m[2] ?? '').toLowerCase() };
}

/** nvidia-smi always reports MiB, but convert the other binary units rather than misread them. */
function parseMiB(v: string | undefined): number | undefined {
  const q = parseQuantity(v);
  if (!q) return undefined;
  const factor: Record<string, number> = { '': 1, mib: 1, gib: 1024, kib: 1 / 1024, mb: 1, gb: 1024 };
  const f = factor[q.unit];
  return f === undefined ? undefined : Math.round(q.value * f);
}

function parseMigMode(v: string | undefined): GpuInfo['migMode'] {
  if (v === undefined) return undefined;
  const t = v.trim().toLowerCase();
  if (t === 'enabled') return 'enabled';
  if (t === 'disabled') return 'disabled';
  return 'n/a';
}

/** Header cells look like "memory.total [MiB]"; strip the unit and resolve aliases. */
function fieldOfHeader(cell: string): string {
  const name = cell
    .trim()
    .replace(/\s*\[[^\]]*\]$/, '')
    .trim();
  return FIELD_ALIASES[name] ?? name;
}

/**
 * Parses `nvidia-smi --query-gpu=<fields> --format=csv` output, with or without `noheader` and
 * `nounits`. With a header, columns are found by name (so a capture made with every field parses
 * as well as our own query); without one, they are taken to be `opts.fields` (by default
 * {@link NVIDIA_SMI_QUERY_FIELDS}) in order. Throws PROBE_FAILED on output that is not such a
 * table (missing a required column, or rows of the wrong width).
 */
export function parseNvidiaSmiCsv(
  csv: string,
  opts?: { cudaVersion?: string; fields?: string[] },
): GpuInfo[] {
  const lines = csv
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) return [];

  const firstCells = (lines[0] as string).split(',').map(fieldOfHeader);
  // A data row never has a cell that is literally a field name, so this tells the two apart.
  const hasHeader = firstCells.some((c) => c === 'uuid' || c === 'name' || c === 'index');
  const columns = hasHeader ? firstCells : (opts?.fields ?? NVIDIA_SMI_QUERY_FIELDS).map(fieldOfHeader);
  const rows = hasHeader ? lines.slice(1) : lines;

  for (const f of ['name', 'uuid', 'memory.total']) {
    if (!columns.includes(f)) {
      throw new AethirError('PROBE_FAILED', `nvidia-smi CSV has no "${f}" column`, {
        details: { columns },
      });
    }
  }
  const col = (f: string): number => columns.indexOf(f);
  const nameCol = col('name');

  return rows.map((row, position) => {
    let cells = row.split(',').map((c) => c.trim());
    // nvidia-smi does not quote; the product name is the only free-text field we query, so a
    // row with surplus cells has a comma in its name: glue them back together there.
    const surplus = cells.length - columns.length;
    if (surplus > 0) {
      cells = [
        ...cells.slice(0, nameCol),
        cells.slice(nameCol, nameCol + surplus + 1).join(', '),
        ...cells.slice(nameCol + surplus + 1),
      ];
    } else if (surplus < 0) {
      throw new AethirError(
        'PROBE_FAILED',
        `nvidia-smi CSV row ${position + 1} has ${cells.length} cells, expected ${columns.length}`,
        { details: { row } },
      );
    }
    const get = (f: string): string | undefined => {
      const i = col(f);
      return i < 0 ? undefined : cells[i];
    };

    const index = parseQuantity(get('index'));
    const cc = cleanString(get('compute_cap'));
    const power = parseQuantity(get('power.limit')) ?? parseQuantity(get('enforced.power.limit'));
    const deviceId = pciDeviceId(cleanString(get('pci.device_id')));
    const gpu: GpuInfo = {
      index: index ? index.value : position,
      ...nameGpu(cleanString(get('name')), deviceId),
      uuid: cleanString(get('uuid')) ?? '',
      // 0 means "not reported", which a scheduler treats as no usable memory: the safe reading.
      memoryMiB: parseMiB(get('memory.total')) ?? 0,
      driverVersion: cleanString(get('driver_version')) ?? '',
    };
    if (opts?.cudaVersion) gpu.cudaVersion = opts.cudaVersion;
    if (cc && /^\d+\.\d+$/.test(cc)) gpu.computeCapability = cc;
    const bus = cleanString(get('pci.bus_id'));
    if (bus) gpu.pciBusId = bus;
    if (deviceId) gpu.pciDeviceId = deviceId;
    if (power) gpu.powerLimitW = power.value;
    if (col('mig.mode.current') >= 0) gpu.migMode = parseMigMode(get('mig.mode.current'));
    return gpu;
  });
}

/**
 * "CUDA Version: 12.4" from the plain table, `-q`, `--version` or `-q -x`. Drivers from 610 on
 * print "CUDA UMD Version" and mark the old label deprecated (in `--version` its value becomes
 * the word "Deprecated"), so the new label wins and only a numeric value is accepted.
 */
export function parseCudaVersion(nvidiaSmiPlainOrQ: string): string | undefined {
  const patterns = [
    /CUDA UMD Version\s*:\s*(\d+(?:\.\d+)+)/i,
    /CUDA Version\s*:\s*(\d+(?:\.\d+)+)/i,
    /<cuda_version>\s*(\d+(?:\.\d+)+)\s*</i,
  ];
  for (const p of patterns) {
    const m = p.exec(nvidiaSmiPlainOrQ);
    if (m) return m[1];
  }
  return undefined;
}

/** The driver version from the plain table or `-q` ("Driver Version", from 610 "KMD Version"). */
export function parseDriverVersion(nvidiaSmiPlainOrQ: string): string | undefined {
  const m =
    /KMD Version\s*:\s*(\d+(?:\.\d+)+)/i.exec(nvidiaSmiPlainOrQ) ??
    /Driver Version\s*:\s*(\d+(?:\.\d+)+)/i.exec(nvidiaSmiPlainOrQ);
  return m?.[1];
}

/** The first non-empty line, for messages about output we do not recognise. */
function firstLine(output: string): string {
  return (
    output
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

/**
 * Recognises nvidia-smi's failure messages (they go to stdout or stderr depending on version, so
 * pass both). Text wins over the exit code because codes differ between versions; the documented
 * codes (man nvidia-smi: 6 no object found, 9 driver not loaded, 12 NVML library not found,
 * 15 GPU fell off the bus) are only the fallback.
 */
export function classifyNvidiaSmiError(output: string, exitCode: number | null): GpuProbeOutcome {
  const text = output.trim();
  const error = (errorKind: GpuErrorKind, message: string): GpuProbeOutcome => ({
    gpus: [],
    status: 'error',
    errorKind,
    message,
  });

  // A shell or `docker exec` reports a missing binary as text rather than as ENOENT.
  if (
    exitCode === 127 ||
    /nvidia-smi: (command )?not found|nvidia-smi.*is not recognized as an internal or external command|executable file not found/i.test(
      text,
    )
  ) {
    return { gpus: [], status: 'no-nvidia-smi', message: 'nvidia-smi is not installed or not on PATH' };
  }

  const mismatch = /Driver\/library version mismatch/i.test(text);
  if (mismatch) {
    const lib = /NVML library version:\s*([\d.]+)/i.exec(text)?.[1];
    return error(
      'driver-library-mismatch',
      `NVIDIA driver/library version mismatch${lib ? ` (user-space NVML library ${lib})` : ''}: ` +
        'the kernel module does not match the installed driver libraries, usually after a driver ' +
        'upgrade without a reboot; reboot or reload the nvidia kernel modules',
    );
  }

  const handle =
    /Unable to determine the device handle for GPU\s*([0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+\.[0-9A-Fa-f]+)\s*:\s*(.*)/i.exec(
      text,
    );
  if (handle || /fallen off the bus|GPU is lost/i.test(text) || (exitCode === 15 && text === '')) {
    const where = handle ? ` at PCI ${handle[1]}` : '';
    const why = handle?.[2]?.trim() ? ` (${handle[2].trim()})` : '';
    return error(
      'gpu-lost',
      `a GPU${where} is unreachable${why}: it has likely fallen off the bus (see Xid 79 in the ` +
        'kernel log); the machine needs a reboot or the GPU needs reseating',
    );
  }

  if (
    /couldn't communicate with the NVIDIA driver|NVIDIA driver is not loaded|couldn't find libnvidia-ml|libnvidia-ml\.so.*(not found|cannot open)|NVML Shared Library Not Found/i.test(
      text,
    ) ||
    ((exitCode === 9 || exitCode === 12) && text === '')
  ) {
    return error(
      'no-driver',
      'nvidia-smi cannot reach the NVIDIA driver: the driver is not installed or not loaded, or ' +
        '(in a container) the NVIDIA runtime did not mount it',
    );
  }

  if (/No devices were found/i.test(text) || (exitCode === 6 && text === '')) {
    return error(
      'no-devices',
      'the NVIDIA driver is loaded but reports no GPUs (none installed, all hidden by ' +
        'CUDA_VISIBLE_DEVICES/NVIDIA_VISIBLE_DEVICES, or not passed to this container)',
    );
  }

  const line = firstLine(text);
  if (/Failed to initialize NVML: Unknown Error/i.test(text)) {
    // Known container failure: the runtime's device cgroup rules were lost (often after a
    // `systemctl daemon-reload` on the host), so the GPUs vanish until the container restarts.
    return error(
      'unknown',
      `nvidia-smi failed: ${line}; inside a container this usually means it lost access to the GPU devices and must be restarted`,
    );
  }
  return error(
    'unknown',
    `nvidia-smi failed${exitCode === null ? '' : ` with exit code ${exitCode}`}${line ? `: ${line}` : ''}`,
  );
}

/** The field named by `Field "compute_cap" is not a valid field to query.`, if that is the error. */
function rejectedField(output: string): string | undefined {
  return /Field "([^"]+)" is not a valid field to query/i.exec(output)?.[1];
}

/**
 * Lists the GPUs with nvidia-smi. Never throws: a missing nvidia-smi is 'no-nvidia-smi' and any
 * failure is 'error' with zero GPUs, because a half-read set of GPUs must not be advertised.
 */
export async function probeGpus(runner: CommandRunner = defaultRunner): Promise<GpuProbeOutcome> {
  try {
    const fields = [...NVIDIA_SMI_QUERY_FIELDS];
    const dropped: string[] = [];
    let res: Awaited<ReturnType<CommandRunner>>;
    for (;;) {
      res = await runner('nvidia-smi', [`--query-gpu=${fields.join(',')}`, '--format=csv']);
      if (res.notFound) {
        return { gpus: [], status: 'no-nvidia-smi', message: 'nvidia-smi is not installed or not on PATH' };
      }
      const field = res.code === 0 ? undefined : rejectedField(`${res.stdout}\n${res.stderr}`);
      // Older drivers reject the whole query for one unknown field; drop it and ask again.
      if (field === undefined || REQUIRED_FIELDS.has(field) || !fields.includes(field)) break;
      fields.splice(fields.indexOf(field), 1);
      dropped.push(field);
    }

    const output = `${res.stdout}\n${res.stderr}`;
    if (res.code !== 0) return classifyNvidiaSmiError(output, res.code);

    // Some versions print a failure such as "No devices were found" yet exit 0, so output that
    // is not a GPU table is classified before its parse error is believed.
    let gpus: GpuInfo[] = [];
    let parseError: unknown;
    try {
      gpus = parseNvidiaSmiCsv(res.stdout, { fields });
    } catch (err) {
      parseError = err;
    }
    if (gpus.length === 0) {
      const c = classifyNvidiaSmiError(output, res.code);
      if (c.errorKind !== 'unknown') return c;
      if (parseError) throw parseError;
      return { ...c, message: 'nvidia-smi succeeded but listed no GPUs' };
    }

    // The CUDA version (the highest the driver supports) is only in the plain table, -q and --version.
    const notes = dropped.map((f) => `this driver's nvidia-smi does not know the field ${f}; it is left out`);
    const plain = await runner('nvidia-smi', []);
    const cudaVersion = plain.code === 0 ? parseCudaVersion(plain.stdout) : undefined;
    if (!cudaVersion) notes.push('could not read the CUDA version from nvidia-smi');
    const driver = plain.code === 0 ? parseDriverVersion(plain.stdout) : undefined;
    for (const g of gpus) {
      if (cudaVersion) g.cudaVersion = cudaVersion;
      if (!g.driverVersion && driver) g.driverVersion = driver;
    }
    return notes.length > 0 ? { gpus, status: 'ok', message: notes.join('; ') } : { gpus, status: 'ok' };
  } catch (err) {
    // Only a bug or truly unexpected output lands here; still never fail the whole probe for it.
    const message = err instanceof Error ? err.message : String(err);
    return {
      gpus: [],
      status: 'error',
      errorKind: 'unknown',
      message: `could not read nvidia-smi output: ${message}`,
    };
  }
}

/**
 * GPUs from `nvidia-smi -q -x` (XML). A secondary source: it has no compute capability, and its
 * GPU order is PCI order, which is what nvidia-smi's default index follows. Regex-based on
 * purpose (no XML dependency); the format is flat and machine-written.
 */
export function parseNvidiaSmiXml(xml: string): GpuInfo[] {
  const tag = (src: string, name: string): string | undefined => {
    const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(src);
    return m?.[1] === undefined ? undefined : decodeXml(m[1]).trim();
  };
  const driverVersion = cleanString(tag(xml, 'driver_version')) ?? '';
  const cudaVersion = cleanString(tag(xml, 'cuda_version'));
  const gpus: GpuInfo[] = [];
  const gpuRe = /<gpu\s+id="([^"]*)"\s*>([\s\S]*?)<\/gpu>/g;
  for (let m = gpuRe.exec(xml); m; m = gpuRe.exec(xml)) {
    // MIG instances have their own fb_memory_usage; only the parent GPU's counts here.
    const body = (m[2] ?? '').replace(/<mig_devices>[\s\S]*?<\/mig_devices>/g, '');
    const fb = /<fb_memory_usage>([\s\S]*?)<\/fb_memory_usage>/.exec(body)?.[1] ?? '';
    // Power moved from <power_readings><power_limit> to <gpu_power_readings><current_power_limit>.
    const powerBlock = /<(?:gpu_)?power_readings>([\s\S]*?)<\/(?:gpu_)?power_readings>/.exec(body)?.[1] ?? '';
    const power =
      parseQuantity(tag(powerBlock, 'current_power_limit')) ?? parseQuantity(tag(powerBlock, 'power_limit'));
    const deviceId = pciDeviceId(cleanString(tag(body, 'pci_device_id')));
    const gpu: GpuInfo = {
      index: gpus.length,
      ...nameGpu(cleanString(tag(body, 'product_name')), deviceId),
      uuid: cleanString(tag(body, 'uuid')) ?? '',
      memoryMiB: parseMiB(tag(fb, 'total')) ?? 0,
      driverVersion,
    };
    if (cudaVersion) gpu.cudaVersion = cudaVersion;
    const bus = cleanString(tag(body, 'pci_bus_id')) ?? cleanString(m[1]);
    if (bus) gpu.pciBusId = bus;
    if (deviceId) gpu.pciDeviceId = deviceId;
    if (power) gpu.powerLimitW = power.value;
    const mig = tag(body, 'current_mig');
    if (mig !== undefined) gpu.migMode = parseMigMode(mig);
    gpus.push(gpu);
  }
  return gpus;
}

function decodeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

const MiB = 1024 * 1024;

/** Reads a small file, or undefined when it does not exist or cannot be read. */
async function readSmall(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * CPU and memory limits of the cgroup we run in. Inside a container, os.cpus() and
 * os.totalmem() describe the host, and advertising the host's capacity would oversell the
 * container. Reads the cgroup mount root, which is the container's own cgroup under a cgroup
 * namespace (the default with cgroup v2); v2 first, then v1. "No limit" reads as undefined.
 */
export async function readCgroupLimits(
  root = '/sys/fs/cgroup',
): Promise<{ cpus?: number; memoryBytes?: number }> {
  const out: { cpus?: number; memoryBytes?: number } = {};

  const cpuMax = await readSmall(path.join(root, 'cpu.max')); // v2: "<quota|max> <period>"
  if (cpuMax !== undefined) {
    const [quota, period] = cpuMax.split(/\s+/);
    if (quota !== 'max' && Number(quota) > 0 && Number(period) > 0) out.cpus = Number(quota) / Number(period);
  } else {
    const quota = Number(await readSmall(path.join(root, 'cpu', 'cpu.cfs_quota_us'))); // -1 = none
    const period = Number(await readSmall(path.join(root, 'cpu', 'cpu.cfs_period_us')));
    if (quota > 0 && period > 0) out.cpus = quota / period;
  }

  const memMax = await readSmall(path.join(root, 'memory.max')); // v2: bytes or "max"
  const memV1 =
    memMax === undefined ? await readSmall(path.join(root, 'memory', 'memory.limit_in_bytes')) : undefined;
  const mem = Number(memMax ?? memV1);
  // v1 writes "no limit" as a huge page-aligned number (~2^63); anything past 2^53 is that.
  if (Number.isFinite(mem) && mem > 0 && mem < Number.MAX_SAFE_INTEGER) out.memoryBytes = mem;
  return out;
}

/**
 * Probes the whole machine. Never throws: anything that cannot be read becomes a warning, and
 * GPU failures are reported in `gpuProbe` (and repeated in `warnings`).
 * `opts.cgroupRoot` and `opts.diskPath` exist for tests.
 */
export async function probeHardware(
  runner: CommandRunner = defaultRunner,
  opts: { cgroupRoot?: string; diskPath?: string } = {},
): Promise<ProbeResult> {
  const warnings: string[] = [];

  const cpus = os.cpus();
  // os.cpus() is empty where /proc/cpuinfo is hidden; availableParallelism still answers.
  const hostCores = cpus.length > 0 ? cpus.length : os.availableParallelism();
  const model = cpus[0]?.model.trim() || 'unknown';
  if (model === 'unknown') warnings.push('could not read the CPU model');

  const limits = await readCgroupLimits(opts.cgroupRoot);
  let cores = hostCores;
  if (limits.cpus !== undefined && limits.cpus < hostCores) {
    // Whole cores only, and at least one: a 1.5-CPU quota cannot promise a second core.
    cores = Math.max(1, Math.floor(limits.cpus));
    warnings.push(
      `CPU limited by the cgroup quota to ${limits.cpus} (host has ${hostCores}); advertising ${cores}`,
    );
  }
  let memoryMiB = Math.floor(os.totalmem() / MiB);
  if (limits.memoryBytes !== undefined && limits.memoryBytes < os.totalmem()) {
    memoryMiB = Math.floor(limits.memoryBytes / MiB);
    warnings.push(
      `memory limited by the cgroup to ${memoryMiB} MiB (host has ${Math.floor(os.totalmem() / MiB)} MiB)`,
    );
  }

  let diskFreeMiB: number | undefined;
  const diskPath = opts.diskPath ?? process.cwd();
  try {
    const s = await statfs(diskPath);
    // bavail, not bfree: blocks reserved for root are not ours to rent out.
    diskFreeMiB = Math.floor((Number(s.bavail) * Number(s.bsize)) / MiB);
  } catch (err) {
    warnings.push(
      `could not read free disk space at ${diskPath}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }

  const gpuProbe = await probeGpus(runner);
  // No nvidia-smi is a CPU-only container, not a problem; errors and caveats are worth a warning.
  if (gpuProbe.status === 'error')
    warnings.push(`GPU probe failed (${gpuProbe.errorKind}): ${gpuProbe.message}`);
  else if (gpuProbe.status === 'ok' && gpuProbe.message) warnings.push(gpuProbe.message);

  const spec: HardwareSpec = {
    cpu: { model, cores, arch: os.arch() },
    memoryMiB,
    os: { platform: os.platform(), release: os.release(), hostname: os.hostname() },
    gpus: gpuProbe.gpus,
  };
  if (diskFreeMiB !== undefined) spec.diskFreeMiB = diskFreeMiB;
  return { spec, gpuProbe, warnings };
}
