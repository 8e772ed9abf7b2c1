import { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseAth } from '../../core/amount.js';
import { defaultHome } from '../../core/config.js';
import { AethirError } from '../../core/errors.js';
import {
  DEPLOYMENT_NAME_RE,
  DeploymentStore,
  closeDeployment,
  deployPlan,
  closeDeploymentVolumes,
  type DeploymentRecord,
  type LeaseWorkload,
} from '../../sdk/deployments.js';
import {
  AKASH_BLOCK_TIME_S,
  SDL_LIMITS,
  SdlError,
  describePlan,
  planSdl,
  rateUnits,
  type ServicePlan,
  type Token,
} from '../../sdk/sdl.js';
import {
  action,
  apiOption,
  client,
  fmtAth,
  jsonOption,
  parseDuration,
  printJson,
  short,
  table,
  userKeystore,
} from '../common.js';

export function deploymentStore(): DeploymentStore {
  return new DeploymentStore(join(defaultHome(), 'deployments'));
}

/** "my_app.deploy.yaml" → "my-app-deploy": a deployment's default name. */
export function defaultDeploymentName(file: string): string {
  const stem = basename(file, extname(file))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return DEPLOYMENT_NAME_RE.test(stem) ? stem : 'deployment';
}

function readSdl(file: string): string {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw new AethirError('INVALID_ARGUMENT', `cannot read ${file}: ${(e as Error).message}`);
  }
  // Refused before reading: a huge file is never loaded whole.
  if (size > SDL_LIMITS.maxBytes)
    throw new SdlError(
      [{ path: '(file)', message: `larger than ${SDL_LIMITS.maxBytes} bytes` }],
      basename(file),
    );
  return readFileSync(file, 'utf8');
}

const RATE_FLAGS: ReadonlyArray<[Token, string, string]> = [
  ['akt', '--akt-rate', 'aktRate'],
  ['act', '--act-rate', 'actRate'],
  ['usdc', '--usdc-rate', 'usdcRate'],
];

/**
 * What a planned service runs on a lease: its OCI image (hosts with a Docker engine only), with
 * `command` + `args` as the container's command (an SDL's `args` alone go to the image's own
 * entrypoint, as Docker does), and its exposed port as the lease's own port: the lease's
 * endpoint forwards to that port in the container (public where the port is global; else open
 * with a lease token, which the services it is exposed to get in their env). An SDL that
 * gives neither command nor args is refused by path: a lease names what it runs.
 */
export function leaseWorkloadFor(s: ServicePlan): LeaseWorkload {
  const command = [...(s.command ?? []), ...(s.args ?? [])];
  if (command.length === 0)
    throw new SdlError(
      [
        {
          path: `services.${s.service}.command`,
          message: `a lease names what it runs: give the service a command or args (the image "${s.image}" is run with them)`,
        },
      ],
      'the SDL',
    );
  return {
    image: s.image,
    command,
    // a global port is public, as on Akash; one exposed only to services opens with a lease token
    ...(s.endpoint ? { port: s.endpoint.port, ...(s.endpoint.public ? { publicEndpoint: true } : {}) } : {}),
  };
}

export function deployCommand(): Command {
  return new Command('deploy')
    .description(
      'bring up an Akash SDL (2.0, 2.1): each service × count becomes a lease, profiles.compute the match, placement pricing the price cap',
    )
    .argument('<file>', 'the SDL (YAML), e.g. deploy.yaml')
    .option(
      '--dry-run',
      'print the plan (services, leases, resources, GPU models, ports, price caps); nothing is opened',
    )
    .option('--name <name>', "the deployment's name (default: from the file name)")
    .option('--akt-rate <ath>', 'ATH per AKT: converts uakt prices per block into a cap per hour')
    .option('--act-rate <ath>', 'ATH per ACT (Akash compute credit): converts uact prices')
    .option('--usdc-rate <ath>', "ATH per USDC: converts uusdc (and Akash's IBC USDC) prices")
    .option(
      '--max-price <ath>',
      "replace the SDL's pricing: highest price, ATH per GPU-hour (per hour for CPU-only services), as rent --max-price",
    )
    .option(
      '--block-time <seconds>',
      'Akash block time the per-block prices are converted with',
      String(AKASH_BLOCK_TIME_S),
    )
    .option(
      '--max-duration <dur>',
      'longest each lease may run (escrow is locked for it; unused time is refunded)',
      '1h',
    )
    .option('--key <name>', 'key that pays (in $AETHIR_HOME/keys)', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      [
        '',
        'Price caps: an SDL prices each profile per block in micro-units of a denom (uakt, uact, uusdc).',
        'The cap per hour is amount × 10^-6 × rate × 3600 / block time, per GPU for GPU services; give',
        "the rate for the SDL's denom, or --max-price. What Aethir cannot honour (IP leases, UDP,",
        'auditors, …) is refused with the SDL path that asks for it.',
        '',
        "Persistent volumes (storage with persistent: true) become Aethir volumes on each lease's host,",
        'named DEPLOYMENT-SERVICE-INDEX-VOLUME; a later deploy of the same name mounts them again.',
        'A service exposed `to: [{service: web}]` is reached by web at $<SERVICE>_SERVICE_URL with the',
        'header x-aethir-lease-token: $<SERVICE>_SERVICE_TOKEN (docs/sdl.md).',
        '',
        'Examples:',
        '  npx aethir deploy --dry-run deploy.yaml --act-rate 2',
        '  npx aethir deploy deploy.yaml --act-rate 2 --name web',
        '  npx aethir deployments ls',
      ].join('\n'),
    )
    .action(
      action(async (file: string, opts: Record<string, any>) => {
        const rates: Partial<Record<Token, bigint>> = {};
        for (const [token, flag, key] of RATE_FLAGS)
          if (opts[key] !== undefined) rates[token] = rateUnits(opts[key], flag);
        const blockTime = Number(opts.blockTime);
        if (!/^\d+(\.\d{1,3})?$/.test(String(opts.blockTime)) || blockTime < 0.1 || blockTime > 600)
          throw new AethirError('INVALID_ARGUMENT', '--block-time takes seconds from 0.1 to 600, e.g. 6.1');
        const maxPrice = opts.maxPrice === undefined ? undefined : parseAth(opts.maxPrice);
        if (maxPrice === 0n) throw new AethirError('INVALID_ARGUMENT', '--max-price must be more than zero');
        const name = opts.name ?? defaultDeploymentName(file);
        if (!DEPLOYMENT_NAME_RE.test(name))
          throw new AethirError(
            'INVALID_ARGUMENT',
            `--name: "${String(name).slice(0, 80)}" is not a deployment name (lower-case letters, digits and -, up to 63)`,
          );
        const maxDurationSec = parseDuration(opts.maxDuration);
        const text = readSdl(file);
        const plan = planSdl(text, {
          rates,
          ...(maxPrice !== undefined ? { maxPricePerHour: maxPrice } : {}),
          blockTimeMs: Math.round(blockTime * 1000),
          source: basename(file),
        });
        if (opts.dryRun) {
          if (opts.json) return printJson({ dryRun: true, name, file, plan });
          process.stdout.write(`deployment ${name} (dry run: nothing is opened)\n`);
          process.stdout.write(describePlan(plan, (u) => fmtAth(u)));
          return;
        }
        const noCap = plan.services.filter((s) => s.pricing.maxPricePerHour === null);
        if (noCap.length)
          throw new AethirError(
            'INVALID_ARGUMENT',
            `no price cap for ${noCap.map((s) => `${s.service} (${s.pricing.denom})`).join(', ')}: give ` +
              [...new Set(noCap.map((s) => `--${denomFlag(s.pricing.denom)}-rate ATH`))].join(', ') +
              ' or --max-price; nothing was opened',
          );
        const say = (s: string) => {
          if (!opts.json) process.stderr.write(`${s}\n`);
        };
        const record = await deployPlan({
          api: client(opts),
          key: userKeystore().load(opts.key),
          plan,
          store: deploymentStore(),
          name,
          source: { file, sha256: createHash('sha256').update(text).digest('hex') },
          maxDurationSec,
          workloadFor: leaseWorkloadFor,
          say,
        });
        if (opts.json) return printJson({ deployment: record });
        say(`deployment ${name}: ${record.leases.length} lease(s) open; aethir deployments status ${name}`);
      }),
    );
}

/** The node to ask about a deployment: it must be on the deployment's chain. */
async function nodeOf(r: DeploymentRecord, opts: Record<string, any>) {
  const api = client(opts);
  const chain = await api.chainId();
  if (chain !== r.chainId)
    throw new AethirError(
      'INVALID_ARGUMENT',
      `deployment ${r.name} is on chain ${r.chainId}; the node at ${api.base} is chain ${chain} (--api)`,
    );
  return api;
}

function denomFlag(denom: string): string {
  return denom === 'uakt' ? 'akt' : denom === 'uact' ? 'act' : 'usdc';
}

export function deploymentsCommand(): Command {
  const cmd = new Command('deployments').description(
    'deployments brought up by "aethir deploy" (recorded in $AETHIR_HOME/deployments)',
  );
  cmd
    .command('ls')
    .description('list deployments and how many of their leases are open')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const records = deploymentStore().list();
        const api = records.some((r) => r.closedAt === null) ? client(opts) : null;
        const rows = [];
        for (const r of records) {
          const views =
            r.closedAt === null ? await Promise.all(r.leases.map((l) => api!.leaseView(l.lease))) : [];
          rows.push({
            name: r.name,
            leases: r.leases.length,
            open: views.filter((v) => v?.status === 'open').length,
            state: r.closedAt === null ? 'active' : 'closed',
            created: new Date(r.createdAt).toISOString(),
            file: r.source.file,
          });
        }
        if (opts.json) return printJson({ deployments: rows });
        process.stdout.write(table(rows, 'no deployments yet (aethir deploy FILE)'));
      }),
    );
  cmd
    .command('status')
    .description("a deployment's leases: service, container, status, endpoint, charged so far")
    .argument('<name>')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (name: string, opts: Record<string, any>) => {
        const r = deploymentStore().get(name);
        const api = await nodeOf(r, opts);
        const leases = [];
        for (const l of r.leases) {
          const v = await api.leaseView(l.lease);
          leases.push({
            ...l,
            status: v?.status ?? 'unknown',
            endpoint: v?.endpoint ?? null,
            charged: v?.charged ?? '0',
            reason: v?.closeReason ?? null,
          });
        }
        if (opts.json) return printJson({ deployment: { ...r, leases } });
        process.stdout.write(
          `deployment ${r.name} (${r.closedAt === null ? 'active' : 'closed'}) from ${r.source.file}\n`,
        );
        process.stdout.write(
          table(
            leases.map((l) => ({
              service: `${l.service}[${l.index}]`,
              lease: l.lease,
              container: `${l.containerName} ${short(l.container)}`,
              status: l.status,
              charged: fmtAth(l.charged, 9),
              endpoint: l.endpoint ?? '',
            })),
            'no leases',
          ),
        );
        for (const l of r.leases)
          for (const v of l.volumes ?? [])
            process.stdout.write(
              `volume ${v.volumeName} (${v.volume}, ${v.sizeMiB} MiB) at ${v.mount} of ${l.service}[${l.index}]\n`,
            );
      }),
    );
  cmd
    .command('close')
    .description(
      'stop every lease of a deployment: the hosts are paid for the time served, the rest refunded; persistent volumes are kept unless --delete-volumes',
    )
    .argument('<name>')
    .option(
      '--delete-volumes',
      'also delete its persistent volumes (their data is gone; unused escrow refunded); kept by default, mounted again by the next deploy of this name',
    )
    .option('--key <name>', 'the key that paid for it', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (name: string, opts: Record<string, any>) => {
        const store = deploymentStore();
        const r = store.get(name);
        const api = await nodeOf(r, opts);
        const key = userKeystore().load(opts.key);
        const closed = await closeDeployment(api, key, r, store);
        const volumes = await closeDeploymentVolumes(api, key, r, { delete: Boolean(opts.deleteVolumes) });
        const charged = closed.reduce((a, l) => a + BigInt(l.charged), 0n);
        const refunded = closed.reduce((a, l) => a + BigInt(l.refunded), 0n);
        if (opts.json)
          return printJson({
            deployment: name,
            leases: closed,
            volumes,
            charged: charged.toString(),
            refunded: refunded.toString(),
          });
        const kept = volumes.filter((v) => v.status === 'kept');
        process.stdout.write(
          table(
            closed.map((l) => ({
              service: `${l.service}[${l.index}]`,
              lease: l.lease,
              status: l.status,
              charged: fmtAth(l.charged, 12),
              refunded: fmtAth(l.refunded, 12),
            })),
            'no leases',
          ) +
            `deployment ${name} closed: charged ${fmtAth(charged, 12)}, refunded ${fmtAth(refunded, 12)}\n` +
            volumes
              .filter((v) => v.status === 'deleted')
              .map(
                (v) =>
                  `deleted volume ${v.volumeName}: charged ${fmtAth(v.charged!)}, refunded ${fmtAth(v.refunded!)}\n`,
              )
              .join('') +
            (kept.length
              ? `kept ${kept.length} persistent volume${kept.length === 1 ? '' : 's'} (${kept.map((v) => v.volumeName).join(', ')}): billed until deleted; "aethir deploy" with --name ${name} mounts them again; delete them with: aethir deployments close ${name} --delete-volumes\n`
              : ''),
        );
      }),
    );
  return cmd;
}
