import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { UNIT, formatAth } from '../../../src/core/index.js';
import { MatchRequestSchema } from '../../../src/indexer/request.js';
import {
  MAX_MATCH_MODELS,
  SDL_LIMITS,
  SdlError,
  aethirGpuModel,
  capForAmount,
  describePlan,
  parseCpuUnits,
  parseSize,
  planSdl,
  sdlEnvOf,
  type DeploymentPlan,
} from '../../../src/sdk/sdl.js';

/** Real Akash SDLs from awesome-akash, shared by the workplace (../shared/data relative to the repo root). */
const DIR = fileURLToPath(new URL('../../../../shared/data/akash-sdl/', import.meta.url));
const title = (what: string) =>
  existsSync(DIR)
    ? `${what} (${DIR})`
    : `${what}: SKIPPED, ${DIR} not found (real data lives in ../shared/data, only in the Aethir workplace)`;
const real = (f: string) => readFileSync(DIR + f, 'utf8');

const ATH = UNIT;
/** 2 ATH per ACT: the rate every real-SDL plan below is converted with. */
const opts = { rates: { act: 2n * ATH } };

/** The SDL with the given paths deleted: what its author would deploy once the refused parts are taken out. */
function without(text: string, ...paths: Array<Array<string | number>>): string {
  const doc = YAML.parseDocument(text);
  for (const p of paths) {
    expect(doc.hasIn(p), `path ${p.join('.')} exists`).toBe(true);
    doc.deleteIn(p);
  }
  return String(doc);
}

/** The issues an SDL is refused with, as "path: message" lines. */
function refusal(text: string, o: Parameters<typeof planSdl>[1] = opts): string[] {
  try {
    planSdl(text, o);
  } catch (e) {
    expect(e).toBeInstanceOf(SdlError);
    return (e as SdlError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('planned, but a refusal was expected');
}

const GiB = (n: number) => (BigInt(n) << 30n).toString();

/** What each shared SDL gets, checked by hand against the YAML (sizes: Gi = 2^30 bytes). */
const EXPECTED_REFUSALS: Record<string, string[]> = {
  'minecraft__deploy.yaml': [
    'services.web.expose[1].port: a lease has one endpoint: port 3333 would be a second global port (after 25565)',
    'profiles.placement.akash.signedBy: auditor signatures are not supported (Aethir hosts are verified by checkers, not auditors)',
    'profiles.placement.akash.attributes.host: no Aethir equivalent (only region maps to a filter)',
  ],
  'ollama-gpu__deploy.yaml': [
    'profiles.placement.akash.signedBy: auditor signatures are not supported (Aethir hosts are verified by checkers, not auditors)',
  ],
  'open-webui-gpu__deploy.yaml': [
    'services.open-webui.depends_on: start order between services is not supported (leases start independently)',
    'profiles.placement.akash.signedBy: auditor signatures are not supported (Aethir hosts are verified by checkers, not auditors)',
  ],
  'ray__deploy.yaml': [
    'services.ray-head.expose[1].port: a lease has one endpoint: port 6380 would be a second global port (after 8265)',
    // the SDL's own typo: "ray-worker," is no service
    'services.ray-head.expose[2].to[0].service: no service named "ray-worker,"',
    'services.ray-head.expose[3].port: a lease has one endpoint: port 8079 would be a second exposed port (after 8265)',
    'services.ray-worker.expose[1].port: a lease has one endpoint: port 8079 would be a second global port (after 8078)',
    // Akash's parser refuses "Gb" too (units.go knows k, M, G, … and Ki, Mi, Gi, …)
    'profiles.compute.ray-head.resources.storage[0].size: "10Gb": unknown unit "Gb" (use k, M, G, T (×1000) or Ki, Mi, Gi, Ti (×1024); no "b")',
    'profiles.compute.ray-worker.resources.storage[0].size: "10Gb": unknown unit "Gb" (use k, M, G, T (×1000) or Ki, Mi, Gi, Ti (×1024); no "b")',
  ],
  'torchbench__torchbench_gpu_sdl_cuda12_0.yaml': [
    'services.gpu-test.cmd: unknown field (Akash SDL runs `command` with `args`)',
  ],
  // Its args value is a single-quoted scalar continued on a line less indented than YAML 1.2
  // allows (libyaml, which Akash uses, lets it pass); the YAML parser says where.
  'wordpress__deploy.yaml': [
    "(yaml): line 25, column 252: Missing closing 'quote",
    '(yaml): line 26, column 1: All mapping items must start at the same column',
    '(yaml): line 26, column 7: Implicit map keys need to be followed by map values',
  ],
};

/**
 * The shared SDLs that keep model weights on a persistent volume at /root/.cache: service, size
 * (Gi in the YAML, MiB here), class, checked by hand against each file.
 */
const PERSISTENT: Record<string, { service: string; sizeMiB: number }> = {
  'DeepSeek-R1-Distill-Qwen-1.5B__deploy.yaml': { service: 'sglang1', sizeMiB: 100 * 1024 },
  'DeepSeek-R1__deploy.yaml': { service: 'sglang1', sizeMiB: 900 * 1024 },
  'Llama-3.3-70B__deploy.yaml': { service: 'vllm', sizeMiB: 200 * 1024 },
  'Mistral-7B__deploy.yaml': { service: 'vllm', sizeMiB: 30 * 1024 },
  'llama-factory__deploy.yaml': { service: 'app', sizeMiB: 500 * 1024 },
};

describe.skipIf(!existsSync(DIR))(title('every shared Akash SDL plans or names what it cannot do'), () => {
  it('the SDLs with model weights on a persistent volume plan it at /root/.cache, one per lease', () => {
    for (const [f, want] of Object.entries(PERSISTENT)) {
      const plan = planSdl(real(f), opts);
      expect(
        plan.services.map((s) => s.service),
        f,
      ).toEqual([want.service]);
      const persistent = plan.services[0]!.volumes.filter((v) => v.kind === 'persistent');
      expect(persistent, f).toEqual([
        expect.objectContaining({
          name: 'data',
          mount: '/root/.cache',
          sizeMiB: want.sizeMiB,
          class: 'beta3',
        }),
      ]);
      expect(plan.notes.join('\n'), f).toMatch(/one per lease/);
    }
  });

  it('the table covers every file in the folder, and each file gets exactly its outcome', () => {
    const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBe(12);
    for (const f of files) {
      if (f === 'stable-diffusion-ui__deploy.yaml' || f in PERSISTENT) {
        expect(() => planSdl(real(f), opts)).not.toThrow();
        continue;
      }
      expect(EXPECTED_REFUSALS[f], `an expectation for ${f}`).toBeDefined();
      expect(refusal(real(f)), f).toEqual(EXPECTED_REFUSALS[f]);
    }
  });

  it('stable-diffusion-ui plans to one 1×RTX 4090 lease: 16 CPU, 32 GiB, 32 GiB disk, port 9000 as 80, 100000 uact/block capped per hour', () => {
    const plan = planSdl(real('stable-diffusion-ui__deploy.yaml'), opts);
    expect(plan).toEqual<DeploymentPlan>({
      version: '2.0',
      leases: 1,
      blockTimeMs: 6100,
      notes: ['root disk sizes are not checked: Aethir hosts register no disk size'],
      services: [
        {
          service: 'stable-diffusion-ui',
          placement: 'akash',
          profile: 'stable-diffusion-ui',
          count: 1,
          image: 's20081428/stable-diffusion-ui:v2.3',
          command: null,
          args: null,
          envNames: [],
          endpoint: { port: 9000, as: 80, public: true },
          links: [],
          cpu: { millicores: 16_000 },
          memoryBytes: GiB(32),
          storageBytes: GiB(32),
          volumes: [],
          gpu: { units: 1, choices: [{ models: ['4090'], akashModels: ['rtx4090'], minVramMiB: null }] },
          region: null,
          // 0.1 ACT/block × 2 ATH/ACT × 3600 s / 6.1 s = 118.0327868852459016393… ATH per GPU-hour, rounded down
          pricing: {
            denom: 'uact',
            amount: '100000',
            maxPricePerHour: '118032786885245901639',
            source: 'sdl',
          },
        },
      ],
    });
  });

  it('the dry run prints the plan for people: resources, GPU models, endpoint, the cap and the rate it came from', () => {
    const text = describePlan(
      planSdl(real('stable-diffusion-ui__deploy.yaml'), opts),
      (u) => `${formatAth(BigInt(u), 6)} ATH`,
    );
    expect(text).toBe(
      [
        'SDL 2.0: 1 service placement, 1 lease (block time 6.1 s)',
        '',
        'stable-diffusion-ui × 1  (profile stable-diffusion-ui, placement akash)',
        '  image      s20081428/stable-diffusion-ui:v2.3',
        '  resources  16 CPU, 32 GiB memory, 32 GiB disk, 1 GPU of 4090',
        "  endpoint   port 9000 (as 80) at the lease's endpoint URL",
        '  region     any',
        '  price cap  118.032786 ATH/GPU-hour (100000 uact/block)',
        '',
        'note: root disk sizes are not checked: Aethir hosts register no disk size',
        '',
      ].join('\n'),
    );
    expect(describePlan(planSdl(real('stable-diffusion-ui__deploy.yaml')), String)).toContain(
      '  price cap  none yet: 100000 uact/block needs a rate (--act-rate) or --max-price',
    );
  });

  it('ollama-gpu without its auditor: 8 CPU, 28 GiB, 100 GiB disk (one-volume form), 1 GPU of any model, its script and MODEL', () => {
    const plan = planSdl(
      without(real('ollama-gpu__deploy.yaml'), ['profiles', 'placement', 'akash', 'signedBy']),
      opts,
    );
    expect(plan.leases).toBe(1);
    const [s] = plan.services;
    expect(s).toMatchObject({
      service: 'ollama',
      image: 'ollama/ollama:0.13.4',
      args: null,
      envNames: ['MODEL'],
      endpoint: { port: 11434, as: 11434 },
      cpu: { millicores: 8000 },
      memoryBytes: GiB(28),
      storageBytes: GiB(100),
      gpu: { units: 1, choices: [{ models: null, akashModels: [], minVramMiB: null }] },
      // 0.01 ACT/block × 2 × 3600 / 6.1
      pricing: { denom: 'uact', amount: '10000', maxPricePerHour: '11803278688524590163', source: 'sdl' },
    });
    expect(s!.command!.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(s!.command![2]).toContain('while ! ollama pull ${MODEL}; do');
    expect(sdlEnvOf(s!)).toEqual({ MODEL: 'llama3.1:8b' });
  });

  it('Llama-3.3-70B without its persistent volume: 2 GPUs of H100 or A100 with ≥ 80 GiB, a 10 GiB ram volume at /dev/shm, cap per GPU', () => {
    const plan = planSdl(
      without(
        real('Llama-3.3-70B__deploy.yaml'),
        ['profiles', 'compute', 'vllm', 'resources', 'storage', 1],
        ['services', 'vllm', 'params', 'storage', 'data'],
      ),
      opts,
    );
    expect(plan.services[0]).toMatchObject({
      service: 'vllm',
      image: 'vllm/vllm-openai:v0.8.4',
      command: ['bash', '-c'],
      args: [
        'vllm serve meta-llama/Llama-3.3-70B-Instruct --tensor-parallel-size 2 --gpu-memory-utilization 0.95 --max-model-len 8192 --enforce-eager',
      ],
      envNames: ['HF_TOKEN'],
      endpoint: { port: 8000, as: 8000 },
      cpu: { millicores: 64_000 },
      memoryBytes: GiB(256),
      storageBytes: GiB(100),
      volumes: [{ name: 'shm', mount: '/dev/shm', sizeBytes: GiB(10), readOnly: false, kind: 'ram' }],
      gpu: {
        units: 2,
        choices: [{ models: ['h100', 'a100'], akashModels: ['h100', 'a100'], minVramMiB: 81_920 }],
      },
      // 1 ACT/block × 2 × 3600 / 6.1 = 1180.33 ATH/h for the lease, ÷ 2 GPUs
      pricing: { maxPricePerHour: '590163934426229508196' },
    });
    expect(sdlEnvOf(plan.services[0]!)).toEqual({ HF_TOKEN: '' });
  });

  it('Mistral-7B without its persistent volume: one GPU choice per memory bound, in the SDL order; pcie is accepted for the RTX 4090', () => {
    const plan = planSdl(
      without(
        real('Mistral-7B__deploy.yaml'),
        ['profiles', 'compute', 'vllm', 'resources', 'storage', 1],
        ['services', 'vllm', 'params', 'storage', 'data'],
      ),
      opts,
    );
    expect(plan.services[0]!.gpu).toEqual({
      units: 1,
      choices: [
        { models: ['a100'], akashModels: ['a100'], minVramMiB: null },
        { models: ['4090'], akashModels: ['rtx4090'], minVramMiB: 24_576 },
        { models: ['h100'], akashModels: ['h100'], minVramMiB: 81_920 },
      ],
    });
    expect(plan.services[0]).toMatchObject({
      cpu: { millicores: 12_000 },
      memoryBytes: GiB(32),
      storageBytes: GiB(30),
    });
  });

  it('DeepSeek-R1 without its persistent volume: 8 × H200 on one lease, 64 CPU, 256 GiB, 32 GiB /dev/shm', () => {
    const plan = planSdl(
      without(
        real('DeepSeek-R1__deploy.yaml'),
        ['profiles', 'compute', 'sglang1', 'resources', 'storage', 1],
        ['services', 'sglang1', 'params', 'storage', 'data'],
      ),
      opts,
    );
    expect(plan.services[0]).toMatchObject({
      gpu: { units: 8, choices: [{ models: ['h200'], akashModels: ['h200'], minVramMiB: null }] },
      cpu: { millicores: 64_000 },
      memoryBytes: GiB(256),
      storageBytes: GiB(100),
      volumes: [{ name: 'shm', mount: '/dev/shm', sizeBytes: GiB(32) }],
      pricing: { maxPricePerHour: '147540983606557377049' },
    });
  });

  it('torchbench without its unknown `cmd`: 16 GPU models as Aethir model words ("rtx3090ti" → "3090 ti", 4000 stays text)', () => {
    const plan = planSdl(
      without(real('torchbench__torchbench_gpu_sdl_cuda12_0.yaml'), ['services', 'gpu-test', 'cmd']),
      opts,
    );
    const s = plan.services[0]!;
    expect(s.gpu.choices).toEqual([
      {
        models: [
          'a40',
          'a10',
          '4090',
          '3090 ti',
          '4080',
          '3090',
          'h100',
          'a100',
          'v100',
          '3060',
          'p100',
          '4000',
          'a4000',
          '2070',
          '1080',
          '1080 ti',
        ],
        akashModels: [
          'a40',
          'a10',
          'rtx4090',
          'rtx3090ti',
          'rtx4080',
          'rtx3090',
          'h100',
          'a100',
          'v100',
          'rtx3060',
          'p100',
          '4000',
          'a4000',
          'rtx2070',
          'gtx1080',
          'gtx1080ti',
        ],
        minVramMiB: null,
      },
    ]);
    expect(s).toMatchObject({
      cpu: { millicores: 1000 },
      memoryBytes: GiB(20),
      storageBytes: GiB(100),
      envNames: ['JUPYTER_TOKEN'],
    });
    expect(s.endpoint).toEqual({ port: 8888, as: 80, public: true });
  });

  it('open-webui without its auditor and depends_on: ollama opens first, its port for open-webui only, which gets OLLAMA_SERVICE_URL and OLLAMA_SERVICE_TOKEN', () => {
    const plan = planSdl(
      without(
        real('open-webui-gpu__deploy.yaml'),
        ['profiles', 'placement', 'akash', 'signedBy'],
        ['services', 'open-webui', 'depends_on'],
      ),
      opts,
    );
    expect(plan.leases).toBe(2);
    expect(
      plan.services.map((s) => [
        s.service,
        s.count,
        s.gpu.units,
        s.endpoint,
        s.cpu.millicores,
        s.memoryBytes,
      ]),
    ).toEqual([
      ['ollama', 1, 1, { port: 11434, as: 11434, public: false }, 8000, GiB(28)],
      ['open-webui', 1, 0, { port: 8080, as: 80, public: true }, 1000, GiB(4)],
    ]);
    expect(plan.services[0]!.links).toEqual([]);
    expect(plan.services[1]!.links).toEqual([
      { service: 'ollama', port: 11434, urlEnv: 'OLLAMA_SERVICE_URL', tokenEnv: 'OLLAMA_SERVICE_TOKEN' },
    ]);
    // WEBUI_SECRET_KEY= is a name with an empty value; names only on the plan
    expect(plan.services[1]!.envNames).toEqual(['OLLAMA_BASE_URL', 'WEBUI_SECRET_KEY']);
    // its OLLAMA_BASE_URL=http://ollama:11434 is Akash's way; the plan says what works here
    expect(plan.notes).toContain(
      'services.open-webui.env[0] names service ollama as a host, which Aethir does not resolve: use $OLLAMA_SERVICE_URL (with the header x-aethir-lease-token: $OLLAMA_SERVICE_TOKEN)',
    );
    const text = describePlan(plan, (u) => formatAth(BigInt(u), 2));
    expect(text).toContain(
      "port 11434 (as 11434) at the lease's endpoint URL (not public: for the services it is exposed to)",
    );
    expect(text).toContain(
      'reaches    ollama (port 11434) at $OLLAMA_SERVICE_URL, with header x-aethir-lease-token: $OLLAMA_SERVICE_TOKEN',
    );
  });

  it('Mistral-7B with its model cache at /data: a persistent 30 GiB volume (class beta3, noted) beside its 10 GiB /dev/shm', () => {
    const plan = planSdl(
      real('Mistral-7B__deploy.yaml').replace('mount: /root/.cache', 'mount: /data'),
      opts,
    );
    expect(plan.services[0]!.volumes).toEqual([
      {
        name: 'data',
        mount: '/data',
        sizeBytes: GiB(30),
        readOnly: false,
        kind: 'persistent',
        sizeMiB: 30 * 1024,
        class: 'beta3',
      },
      { name: 'shm', mount: '/dev/shm', sizeBytes: GiB(10), readOnly: false, kind: 'ram' },
    ]);
    expect(plan.notes.some((n) => n.startsWith('a persistent volume is an Aethir volume'))).toBe(true);
    expect(plan.notes).toContain(
      'storage class beta3 is noted, not matched: Aethir hosts offer one kind of volume disk (a loop-mounted ext4 image)',
    );
    expect(describePlan(plan, (u) => u)).toContain(
      'volume     data at /data: persistent, 30 GiB (class beta3)',
    );
  });

  it('minecraft without its second port, auditor and host attribute: its world on a persistent volume at /data', () => {
    const plan = planSdl(
      without(
        real('minecraft__deploy.yaml'),
        ['services', 'web', 'expose', 1],
        ['profiles', 'placement', 'akash', 'signedBy'],
        ['profiles', 'placement', 'akash', 'attributes', 'host'],
      ),
      opts,
    );
    expect(plan.services[0]!.volumes).toMatchObject([{ name: 'data', mount: '/data', kind: 'persistent' }]);
  });
});

function sdl(
  o: {
    version?: string;
    count?: string;
    cpu?: string;
    memory?: string;
    gpu?: string;
    expose?: string;
    env?: string;
    denom?: string;
    amount?: string;
    placementExtra?: string;
    storage?: string;
    params?: string;
    extraService?: string;
  } = {},
): string {
  return `version: "${o.version ?? '2.0'}"
services:
  web:
    image: nginx:1.27
${o.env ?? '    env:\n      - SECRET=hunter2\n      - MODE=prod'}
${o.expose ?? '    expose:\n      - port: 8080\n        as: 80\n        to:\n          - global: true'}
${o.params ?? ''}
${o.extraService ?? ''}
profiles:
  compute:
    web:
      resources:
        cpu:
          units: ${o.cpu ?? '0.5'}
        memory:
          size: ${o.memory ?? '512Mi'}
        storage:
${o.storage ?? '          size: 1Gi'}
${o.gpu ?? ''}
  placement:
    dc:
${o.placementExtra ?? ''}
      pricing:
        web:
          denom: ${o.denom ?? 'uakt'}
          amount: ${o.amount ?? '1000'}
deployment:
  web:
    dc:
      profile: web
      count: ${o.count ?? '3'}
`;
}
const aktOpts = { rates: { akt: 3n * ATH } };

describe('planning an SDL written here', () => {
  it('a CPU service × 3: half a CPU, 512 MiB, three leases, capped per hour; env values off the plan', () => {
    const plan = planSdl(sdl(), aktOpts);
    expect(plan.leases).toBe(3);
    const s = plan.services[0]!;
    expect(s).toMatchObject({
      count: 3,
      cpu: { millicores: 500 },
      memoryBytes: String(512 * 2 ** 20),
      storageBytes: String(2 ** 30),
      gpu: { units: 0, choices: [] },
      envNames: ['SECRET', 'MODE'],
      // 0.001 AKT/block × 3 ATH/AKT × 3600 / 6.1 = 1.7704918… ATH/h
      pricing: { denom: 'uakt', amount: '1000', maxPricePerHour: '1770491803278688524', source: 'sdl' },
    });
    expect(JSON.stringify(plan)).not.toContain('hunter2');
    expect(sdlEnvOf(s)).toEqual({ SECRET: 'hunter2', MODE: 'prod' });
  });

  it('without a rate the cap is left open and says so; --max-price replaces the SDL price; the block time changes the cap', () => {
    expect(planSdl(sdl()).services[0]!.pricing).toEqual({
      denom: 'uakt',
      amount: '1000',
      maxPricePerHour: null,
      source: 'no-rate',
    });
    expect(planSdl(sdl(), { maxPricePerHour: 5n * ATH }).services[0]!.pricing.maxPricePerHour).toBe(
      String(5n * ATH),
    );
    expect(planSdl(sdl(), { ...aktOpts, blockTimeMs: 6000 }).services[0]!.pricing.maxPricePerHour).toBe(
      String((18n * ATH) / 10n),
    );
    expect(capForAmount('0.5', 10n * ATH, 5000, 1)).toBe(36n * 10n ** 14n); // 0.5 × 10⁻⁶ × 10 ATH × 720 blocks
  });

  it("uusdc and Akash's IBC USDC both take --usdc-rate; 2.1 is accepted; a region attribute maps to the region filter", () => {
    const ibc = 'ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1';
    for (const denom of ['uusdc', ibc]) {
      const p = planSdl(
        sdl({ denom, version: '2.1', placementExtra: '      attributes:\n        region: eu-west' }),
        {
          rates: { usdc: ATH },
        },
      );
      expect(p.version).toBe('2.1');
      expect(p.services[0]!.region).toBe('eu-west');
      expect(p.services[0]!.pricing.source).toBe('sdl');
    }
  });

  it('GPU memory from the model entry, in Gi; any model when nvidia is empty', () => {
    const gpu =
      '        gpu:\n          units: 4\n          attributes:\n            vendor:\n              nvidia:\n                - model: a100\n                  ram: 40Gi';
    expect(planSdl(sdl({ gpu }), aktOpts).services[0]!.gpu).toEqual({
      units: 4,
      choices: [{ models: ['a100'], akashModels: ['a100'], minVramMiB: 40_960 }],
    });
  });
});

describe('what Aethir cannot honour is refused with its SDL path', () => {
  it('an IP lease, an IP endpoint, accepted host names, UDP, HTTP options', () => {
    expect(
      refusal(
        sdl({
          version: '2.1',
          expose:
            '    expose:\n      - port: 80\n        accept:\n          - example.com\n        http_options:\n          max_body_size: 1000\n        to:\n          - global: true\n            ip: myip\n      - port: 53\n        proto: udp\n        to:\n          - global: true',
        }) + 'endpoints:\n  myip:\n    kind: ip\n',
        aktOpts,
      ),
    ).toEqual([
      'endpoints.myip: IP endpoints are not supported (an Aethir lease is reached at its endpoint URL)',
      'services.web.expose[0].accept: custom host names are not supported (a lease is reached at its endpoint URL)',
      'services.web.expose[0].http_options: HTTP options are not supported (the endpoint proxy has no per-lease body limits, timeouts or retries)',
      'services.web.expose[0].to[0].ip: IP leases are not supported',
      'services.web.expose[1].proto: UDP is not supported (a lease endpoint carries HTTP and WebSocket)',
    ]);
  });

  it('two services on a profile with a persistent volume: each gets its own (as on Akash), count 2 gets one per lease', () => {
    const text = sdl({
      storage:
        '          - size: 1Gi\n          - name: data\n            size: 10Gi\n            attributes:\n              persistent: true\n              class: beta3',
      params: '    params:\n      storage:\n        data:\n          mount: /data\n          readOnly: true',
      extraService:
        '  db:\n    image: postgres:16\n    params:\n      storage:\n        data:\n          mount: /var/lib/postgresql',
    }).replace(
      'deployment:\n  web:',
      'deployment:\n  db:\n    dc:\n      profile: web\n      count: 1\n  web:',
    );
    const plan = planSdl(text.replace('count: 3', 'count: 2'), aktOpts);
    expect(plan.services.map((s) => [s.service, s.count, s.volumes])).toEqual([
      [
        'db',
        1,
        [
          {
            name: 'data',
            mount: '/var/lib/postgresql',
            sizeBytes: GiB(10),
            readOnly: false,
            kind: 'persistent',
            sizeMiB: 10240,
            class: 'beta3',
          },
        ],
      ],
      [
        'web',
        2,
        [
          {
            name: 'data',
            mount: '/data',
            sizeBytes: GiB(10),
            readOnly: true,
            kind: 'persistent',
            sizeMiB: 10240,
            class: 'beta3',
          },
        ],
      ],
    ]);
    expect(describePlan(plan, (u) => u)).toContain(
      'volume     data at /data (read-only): persistent, 10 GiB (class beta3)',
    );
  });

  it('persistent volumes Aethir cannot give: escaping or system mount points, too small or too big, unmounted, the root volume, one path twice', () => {
    const vol = (size: string, extra = '') =>
      `          - size: 1Gi\n          - name: data\n            size: ${size}\n            attributes:\n              persistent: true${extra}`;
    const mounted = (...mounts: string[]) =>
      `    params:\n      storage:\n${mounts.map((m) => `        ${m}`).join('\n')}`;
    const one = (mount: string) =>
      refusal(sdl({ storage: vol('1Gi'), params: mounted(`data:\n          mount: ${mount}`) }), aktOpts);
    expect(one('/data/../etc')).toEqual([
      'services.web.params.storage.data.mount: "/data/../etc" must not contain . or .. (it would escape the mount point)',
    ]);
    expect(one('/etc/cron.d')[0]).toMatch(
      /"\/etc\/cron.d": an Aethir lease does not mount volumes under \/etc/,
    );
    expect(one('/proc')[0]).toMatch(/under \/proc/);
    expect(one('/')[0]).toMatch(/^services\.web\.params\.storage\.data\.mount: "\/" /);
    // a home directory and a dot segment are mount points (Akash SDLs keep weights in /root/.cache)
    expect(() =>
      planSdl(sdl({ storage: vol('1Gi'), params: mounted('data:\n          mount: /root/.ssh') }), aktOpts),
    ).not.toThrow();
    expect(one('data')).toEqual(['services.web.params.storage.data.mount: must be an absolute path']);
    expect(one('/a:/b')[0]).toMatch(
      /^services\.web\.params\.storage\.data\.mount: "\/a:\/b" must be an absolute path of plain segments/,
    );
    // sizes: the ledger's bounds, at the volume's own path
    for (const size of ['1Mi', '65Ti', '1Ei'])
      expect(
        refusal(sdl({ storage: vol(size), params: mounted('data:\n          mount: /data') }), aktOpts),
      ).toEqual(['profiles.compute.web.resources.storage[1].size: an Aethir volume holds 16 MiB to 64 TiB']);
    // not mounted; the root volume persistent; two volumes at one path
    expect(refusal(sdl({ storage: vol('1Gi') }), aktOpts)).toEqual([
      'profiles.compute.web.resources.storage[1]: persistent volume "data" is not mounted by services.web.params.storage',
    ]);
    expect(
      refusal(
        sdl({ storage: '          size: 1Gi\n          attributes:\n            persistent: true' }),
        aktOpts,
      ),
    ).toEqual([
      'profiles.compute.web.resources.storage.attributes.persistent: the root volume cannot be persistent: name the volume and mount it (services.S.params.storage)',
    ]);
    const two = `${vol('1Gi')}\n          - name: logs\n            size: 1Gi\n            attributes:\n              persistent: true`;
    expect(
      refusal(
        sdl({
          storage: two,
          params: mounted('data:\n          mount: /data', 'logs:\n          mount: /data'),
        }),
        aktOpts,
      ),
    ).toEqual(['services.web.params.storage.logs.mount: /data is mounted twice']);
  });

  it('services that reach each other: the target opens first; a cycle, a replicated target, a clashing env name, itself', () => {
    const svc = (name: string, to: string, env = '') =>
      `  ${name}:\n    image: busybox\n${env}    expose:\n      - port: 6379\n        to:\n          - service: ${to}\n`;
    const deploy = (names: string[], count = 1) =>
      names.map((n) => `  ${n}:\n    dc:\n      profile: web\n      count: ${count}`).join('\n');
    const base = sdl({ count: '1' });
    const withDb = base
      .replace('profiles:\n', `${svc('db', 'web')}profiles:\n`)
      .replace('deployment:\n', `deployment:\n${deploy(['db'])}\n`);
    const plan = planSdl(withDb, aktOpts);
    // written after web, opened before it
    expect(plan.services.map((s) => s.service)).toEqual(['db', 'web']);
    expect(plan.services[0]!.endpoint).toEqual({ port: 6379, as: 6379, public: false });
    expect(plan.services[1]!.links).toEqual([
      { service: 'db', port: 6379, urlEnv: 'DB_SERVICE_URL', tokenEnv: 'DB_SERVICE_TOKEN' },
    ]);
    expect(refusal(withDb.replace('count: 1\n', 'count: 2\n'), aktOpts)).toEqual([
      "services.db.expose[0].to[0].service: service db is reached by other services, so it runs as one lease (count 1): Aethir has no load balancer across a service's leases",
    ]);
    expect(refusal(withDb.replace('      - MODE=prod', '      - DB_SERVICE_TOKEN=mine'), aktOpts)).toEqual([
      'services.web.env[1]: DB_SERVICE_TOKEN is set by Aethir: where service db is (its lease endpoint, and a token for it)',
    ]);
    const cycle = base
      .replace('profiles:\n', `${svc('a', 'b')}${svc('b', 'a')}profiles:\n`)
      .replace('deployment:\n', `deployment:\n${deploy(['a', 'b'])}\n`);
    expect(refusal(cycle, aktOpts)).toEqual([
      'services.a.expose[0].to[0].service: services reach each other in a cycle (b → a → b): each lease is given the endpoints it reaches when it opens, so they must open one after another',
    ]);
    const self = base
      .replace('profiles:\n', `${svc('solo', 'solo')}profiles:\n`)
      .replace('deployment:\n', `deployment:\n${deploy(['solo'])}\n`);
    expect(refusal(self, aktOpts)).toEqual([
      'services.solo.expose[0].to[0].service: a service does not expose a port to itself',
    ]);
  });

  it('a ram volume anywhere but /dev/shm', () => {
    const text = sdl({
      storage:
        '          - size: 1Gi\n          - name: scratch\n            size: 2Gi\n            attributes:\n              class: ram',
      params: '    params:\n      storage:\n        scratch:\n          mount: /scratch',
    });
    expect(refusal(text, aktOpts)).toEqual([
      "services.web.params.storage.scratch.mount: a ram volume is the lease's own /dev/shm (a tmpfs in its memory); other mount points are not supported",
    ]);
    const shm = planSdl(text.replace('mount: /scratch', 'mount: /dev/shm'), aktOpts);
    expect(shm.services[0]!.volumes).toEqual([
      { name: 'scratch', mount: '/dev/shm', sizeBytes: GiB(2), readOnly: false, kind: 'ram' },
    ]);
    expect(shm.notes).toContain(
      "a ram volume is the lease's /dev/shm: a tmpfs bounded by the lease's memory, not by its size",
    );
  });

  it('a placement attribute with no Aethir meaning, an unknown region, CPU attributes, private registry credentials', () => {
    expect(
      refusal(
        sdl({
          placementExtra: '      attributes:\n        region: mars\n        tier: community',
          cpu: '2\n          attributes:\n            arch: amd64',
        }).replace(
          '    image: nginx:1.27\n',
          '    image: nginx:1.27\n    credentials:\n      host: r.io\n      username: u\n      password: secret123\n',
        ),
        aktOpts,
      ),
    ).toEqual([
      'services.web.credentials: private registry credentials are not supported',
      'profiles.compute.web.resources.cpu.attributes.arch: CPU attributes are not registered by Aethir hosts',
      'profiles.placement.dc.attributes.region: "mars" is not an Aethir region (e.g. eu, eu-west, us-east, ap)',
      'profiles.placement.dc.attributes.tier: no Aethir equivalent (only region maps to a filter)',
    ]);
  });

  it("more GPU models than one match request takes (the API schema's own bound)", () => {
    const models = (n: number) => Array.from({ length: n }, (_, i) => `a${100 + i}`);
    expect(MatchRequestSchema.shape.gpuModels.safeParse(models(MAX_MATCH_MODELS)).success).toBe(true);
    expect(MatchRequestSchema.shape.gpuModels.safeParse(models(MAX_MATCH_MODELS + 1)).success).toBe(false);
    const gpu = `        gpu:\n          units: 1\n          attributes:\n            vendor:\n              nvidia:\n${models(
      17,
    )
      .map((m) => `                - model: ${m}`)
      .join('\n')}`;
    expect(refusal(sdl({ gpu }), aktOpts)).toEqual([
      'profiles.compute.web.resources.gpu.attributes.vendor.nvidia: 17 models: one match takes at most 16',
    ]);
  });

  it('an SXM GPU interface (Aethir hosts do not register it)', () => {
    const gpu =
      '        gpu:\n          units: 1\n          attributes:\n            vendor:\n              nvidia:\n                - model: h100\n                  interface: sxm';
    expect(refusal(sdl({ gpu }), aktOpts)).toEqual([
      'profiles.compute.web.resources.gpu.attributes.vendor.nvidia[0].interface: GPU interface is not registered by Aethir hosts (pcie is accepted only for GeForce RTX/GTX, which are all PCIe)',
    ]);
  });
});

describe('attacks and malformed input: a clear error with its path, nothing planned', () => {
  it('malformed YAML says where', () => {
    expect(refusal('services: [\n  web\n')).toEqual([
      expect.stringMatching(/^\(yaml\): line \d+, column \d+: /),
    ]);
    expect(refusal('- a\n- b\n')).toEqual([
      '(root): an SDL is a mapping (version, services, profiles, deployment)',
    ]);
    expect(refusal('a: 1\n---\nb: 2\n')).toEqual(['(file): 2 YAML documents; an SDL is one']);
    expect(refusal('version: "2.0"\nversion: "2.1"\n')[0]).toMatch(
      /^\(yaml\): line 2, column 1: Map keys must be unique/,
    );
  });

  it('a billion-laughs alias bomb is stopped at the alias limit', () => {
    const bomb = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
    ].join('\n');
    expect(refusal(bomb)).toEqual([
      `(yaml): Excessive alias count indicates a resource exhaustion attack (more than ${SDL_LIMITS.maxAliasCount} alias expansions)`,
    ]);
  });

  it('a file over 1 MiB is refused before parsing', () => {
    expect(refusal(`# ${'x'.repeat(SDL_LIMITS.maxBytes)}\n`)).toEqual([
      `(file): larger than ${SDL_LIMITS.maxBytes} bytes`,
    ]);
  });

  it('huge counts, one service or in all', () => {
    expect(refusal(sdl({ count: '1000000' }), aktOpts)).toEqual([
      'deployment.web.dc.count: 1000000 leases is more than one deployment may open (64)',
    ]);
    expect(refusal(sdl({ count: '99999999999999999999999999' }), aktOpts)).toEqual([
      'deployment.web.dc.count: 99999999999999999999999999 leases is more than one deployment may open (64)',
    ]);
    expect(refusal(sdl({ count: '0' }), aktOpts)).toEqual(['deployment.web.dc.count: must be at least 1']);
    expect(refusal(sdl({ count: '-1' }), aktOpts)).toEqual([
      'deployment.web.dc.count: must be a whole number',
    ]);
    const two = sdl({ count: '40', extraService: '  api:\n    image: nginx:1.27' }).replace(
      'deployment:\n',
      'deployment:\n  api:\n    dc:\n      profile: web\n      count: 40\n',
    );
    expect(refusal(two, aktOpts)).toEqual([
      'deployment: 80 leases in all is more than one deployment may open (64)',
    ]);
  });

  it('negative, overflowing and malformed units', () => {
    expect(refusal(sdl({ cpu: '-1' }), aktOpts)).toEqual([
      'profiles.compute.web.resources.cpu.units: "-1" is negative',
    ]);
    expect(refusal(sdl({ cpu: '1e9' }), aktOpts)).toEqual([
      'profiles.compute.web.resources.cpu.units: "1e9" is not a CPU amount (cores, e.g. 2 or 0.5, or millicores, e.g. 500m)',
    ]);
    expect(refusal(sdl({ cpu: '0' }), aktOpts)).toEqual([
      'profiles.compute.web.resources.cpu.units: must be more than zero',
    ]);
    expect(refusal(sdl({ cpu: '5000' }), aktOpts)).toEqual([
      'profiles.compute.web.resources.cpu.units: 5000 cores is more than any host registers (4096)',
    ]);
    expect(refusal(sdl({ memory: '-5Gi' }), aktOpts)).toEqual([
      'profiles.compute.web.resources.memory.size: "-5Gi" is negative',
    ]);
    expect(refusal(sdl({ memory: '99999999999Ei' }), aktOpts)).toEqual([
      'profiles.compute.web.resources.memory.size: "99999999999Ei" is larger than any host (over 1 EiB)',
    ]);
    const gpu = (u: string) =>
      `        gpu:\n          units: ${u}\n          attributes:\n            vendor:\n              nvidia:`;
    expect(refusal(sdl({ gpu: gpu('-1') }), aktOpts)).toEqual([
      'profiles.compute.web.resources.gpu.units: "-1" is negative',
    ]);
    expect(refusal(sdl({ gpu: gpu('1.5') }), aktOpts)).toEqual([
      'profiles.compute.web.resources.gpu.units: "1.5" is not a whole number',
    ]);
    expect(refusal(sdl({ gpu: gpu('65') }), aktOpts)).toEqual([
      'profiles.compute.web.resources.gpu.units: 65 GPUs is more than one lease may hold (64, on one host)',
    ]);
    expect(refusal(sdl({ gpu: '        gpu:\n          units: 2' }), aktOpts)).toEqual([
      'profiles.compute.web.resources.gpu.attributes: GPU units need attributes.vendor.nvidia (an empty value: any model)',
    ]);
  });

  it('unknown denoms and bad amounts; a cap that rounds to zero', () => {
    expect(refusal(sdl({ denom: 'ubtc' }), aktOpts)).toEqual([
      'profiles.placement.dc.pricing.web.denom: unknown denom "ubtc" (uakt, uact, uusdc)',
    ]);
    expect(refusal(sdl({ amount: '-5' }), aktOpts)).toEqual([
      'profiles.placement.dc.pricing.web.amount: "-5" is negative',
    ]);
    expect(refusal(sdl({ amount: '0' }), aktOpts)).toEqual([
      'profiles.placement.dc.pricing.web.amount: must be more than zero',
    ]);
    expect(refusal(sdl({ amount: '1e5' }), aktOpts)).toEqual([
      'profiles.placement.dc.pricing.web.amount: "1e5" is not a decimal amount',
    ]);
    expect(refusal(sdl({ amount: '1' }), { rates: { akt: 1n } })).toEqual([
      'profiles.placement.dc.pricing.web.amount: the price cap comes to zero ATH per hour at this rate',
    ]);
  });

  it('unknown fields, a wrong version, dangling names, reserved-looking service names', () => {
    expect(refusal(sdl({ version: '3.0' }) + 'extra: 1\n', aktOpts)).toEqual([
      'version: must be "2.0" or "2.1"',
      'extra: unknown field',
    ]);
    expect(refusal(sdl().replace('profile: web', 'profile: nope'), aktOpts)).toEqual([
      'deployment.web.dc.profile: no compute profile named "nope" in profiles.compute',
    ]);
    expect(
      refusal(
        sdl({ params: '    params:\n      storage:\n        cache:\n          mount: /cache' }),
        aktOpts,
      ),
    ).toEqual([
      'services.web.params.storage.cache: no volume named "cache" in profiles.compute.web.resources.storage',
    ]);
    expect(
      refusal(sdl({ env: '    env:\n      - NOEQUALS\n      - 1BAD=x\n      - A=1\n      - A=2' }), aktOpts),
    ).toEqual([
      'services.web.env[0]: "NOEQUALS" has no "=" (write NAME=value)',
      'services.web.env[1]: "1BAD" is not a variable name',
      'services.web.env[3]: A is set twice',
    ]);
    // names that plain objects inherit or drop are never taken for something else, or lost
    expect(refusal(sdl({ extraService: '  __proto__:\n    image: x' }), aktOpts)).toEqual([
      'services.__proto__: a reserved key',
    ]);
    expect(refusal(sdl({ extraService: '  constructor:\n    image: x' }), aktOpts)).toEqual([
      'services.constructor: not deployed: deployment names no placement for it',
    ]);
    expect(refusal(sdl().replace('profile: web', 'profile: toString'), aktOpts)).toEqual([
      'deployment.web.dc.profile: no compute profile named "toString" in profiles.compute',
    ]);
    expect(refusal(sdl({ denom: 'constructor' }), aktOpts)).toEqual([
      'profiles.placement.dc.pricing.web.denom: unknown denom "constructor" (uakt, uact, uusdc)',
    ]);
  });

  it('a key that is a list, a mapping or an alias is refused, naming its line, and nothing is written to the log', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      for (const [text, line] of [
        [`${sdl()}\n? { compute: x }\n: y\n`, sdl().split('\n').length + 1],
        ['version: "2.0"\n? [a, b]\n: y\n', 2],
        ['version: &v "2.0"\nservices:\n  ? *v\n  : y\n', 3],
      ] as const) {
        let err: unknown;
        try {
          planSdl(text, aktOpts);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(SdlError);
        expect((err as SdlError).issues[0]).toMatchObject({
          path: '(yaml)',
          line,
          message: expect.stringMatching(
            /a mapping key must be plain text, not a list, a mapping or an alias$/,
          ),
        });
      }
      await new Promise((r) => setImmediate(r)); // (a process warning is emitted on the next tick)
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('any text: a plan or an SdlError, never another exception (fuzzed)', () => {
    const base = sdl();
    fc.assert(
      fc.property(fc.nat(base.length), fc.nat(40), fc.string({ maxLength: 12 }), (at, del, ins) => {
        const text = base.slice(0, at) + ins + base.slice(at + del);
        try {
          planSdl(text, aktOpts);
        } catch (e) {
          expect(e).toBeInstanceOf(SdlError);
          expect((e as SdlError).issues.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('units, as Akash reads them', () => {
  it('sizes: ×1000 and ×1024 suffixes, decimals; GPU memory takes only the binary ones', () => {
    expect(parseSize('512Mi')).toBe(512n << 20n);
    expect(parseSize('1.5Gi')).toBe(3n << 29n);
    expect(parseSize('10G')).toBe(10_000_000_000n);
    expect(parseSize('100')).toBe(100n);
    expect(parseSize('80G', true)).toBe('"80G": unknown unit "G" (use Ki, Mi, Gi, Ti)');
  });
  it('CPU: cores, decimals, millicores', () => {
    expect(parseCpuUnits('32')).toBe(32_000);
    expect(parseCpuUnits('0.25')).toBe(250);
    expect(parseCpuUnits('750m')).toBe(750);
  });
  it('GPU model ids become Aethir model words; text that is no id is refused', () => {
    expect(aethirGpuModel('rtx4090')).toBe('4090');
    expect(aethirGpuModel('RTX3090Ti')).toBe('3090 ti');
    expect(aethirGpuModel('rtx6000ada')).toBe('6000 ada');
    expect(aethirGpuModel('rtxa6000')).toBe('a6000');
    expect(aethirGpuModel('h100')).toBe('h100');
    expect(aethirGpuModel('h100; rm -rf')).toBeNull();
  });
  it('every whole number of cores and Gi plans to exactly that many millicores and bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4096 }),
        fc.integer({ min: 1, max: 4096 }),
        fc.integer({ min: 1, max: 64 }),
        (cores, gi, count) => {
          const s = planSdl(sdl({ cpu: String(cores), memory: `${gi}Gi`, count: String(count) }), aktOpts);
          expect(s.leases).toBe(count);
          expect(s.services[0]!.cpu.millicores).toBe(cores * 1000);
          expect(s.services[0]!.memoryBytes).toBe((BigInt(gi) << 30n).toString());
        },
      ),
      { numRuns: 50 },
    );
  });
});
