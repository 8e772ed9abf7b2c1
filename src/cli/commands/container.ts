import { Command, Option } from 'commander';
import { VolumeStore, canKeepVolumes, defaultVolumeMountRoot } from '../../container/volumes.js';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { formatAth, parseAth } from '../../core/amount.js';
import { systemClock } from '../../core/clock.js';
import { DEFAULT_API, defaultHome } from '../../core/config.js';
import { AethirError } from '../../core/errors.js';
import { ensurePrivateDir, PRIVATE_FILE_MODE, tightenPrivateFile } from '../../core/private-files.js';
import { ContainerAgent, type ContainerAgentInit, DEFAULT_DISK_QUOTA_MIB } from '../../container/agent.js';
import { declaredSpec, parseDeclaredGpus } from '../../container/declared.js';
import { EndpointProxy } from '../../container/endpoint-proxy.js';
import { fingerprintOf } from '../../container/fingerprint.js';
import { appsDirOf, checkpointsDirOf, hostProcessRuntime } from '../../container/isolation.js';
import { probeHardware } from '../../container/probe.js';
import { DEFAULT_DOCKER_SOCKET, DockerRuntime } from '../../container/runtimes/docker.js';
import { HostProcessRuntime } from '../../container/runtimes/host-process.js';
import { Keystore } from '../../node/keystore.js';
import { locationOf, specFromProbe } from '../../node/roles.js';
import type { KeyPair } from '../../core/keys.js';
import { spawnProver } from '../../capacity/prover.js';
import { APP_NAME_RE } from '../../ledger/app.js';
import type { ReputationView } from '../../ledger/modules/checks/queries.js';
import { ApiClient } from '../../sdk/client.js';
import { HttpBus } from '../../sdk/http-bus.js';
import { TxSender } from '../../sdk/tx-sender.js';
import { action, jsonOption, parseIntArg, printJson, runUntilSignal, table } from '../common.js';

/** What `container start` leaves in its data directory for `status` and `drain`. */
interface RunFile {
  network: string;
  address: string;
  name: string;
  pid: number;
  socket: string;
}

function dataDirOf(opts: { data?: string }): string {
  return opts.data ?? join(defaultHome(), 'container');
}

function readRunFile(dir: string): RunFile | undefined {
  const f = join(dir, 'container.json');
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as RunFile;
  } catch {
    return undefined;
  }
}

/**
 * The container's signing key in <data>/keys and its API node, for commands that sign as the
 * container after it stopped too: --key, else the running agent's key, else the only key there.
 */
function containerSigner(opts: { data?: string; key?: string; network?: string }): {
  key: KeyPair;
  api: ApiClient;
} {
  const dir = dataDirOf(opts);
  const run = readRunFile(dir);
  const keys = new Keystore(join(dir, 'keys'));
  const api = new ApiClient(opts.network ?? run?.network ?? DEFAULT_API);
  if (opts.key) return { key: keys.load(opts.key), api };
  const list = keys.list().filter((k) => !k.error);
  const mine = run ? list.find((k) => k.address === run.address) : list.length === 1 ? list[0] : undefined;
  if (!mine)
    throw new AethirError(
      'NOT_FOUND',
      list.length
        ? `${list.length} keys in ${join(dir, 'keys')} (${list.map((k) => k.name).join(', ')}): pick the container's with --key NAME`
        : `no container key in ${join(dir, 'keys')}: give the --data directory "aethir container start" used`,
    );
  return { key: keys.load(mine.name), api };
}

/** One request to the running agent's control socket. */
function control(socket: string, method: 'GET' | 'POST', path: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: socket, method, path, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('error', (e) =>
      reject(new AethirError('UNAVAILABLE', `no container agent answers on ${socket}: ${e.message}`)),
    );
    req.end();
  });
}

function serveControl(socket: string, agent: ContainerAgent): Server {
  if (existsSync(socket)) rmSync(socket);
  const server = createServer((req, res) => {
    const send = (code: number, v: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    if (req.method === 'GET' && req.url === '/status') return send(200, agent.status());
    if (req.method === 'POST' && req.url === '/drain') {
      void agent.drain();
      return send(202, agent.status());
    }
    send(404, { error: 'unknown' });
  });
  server.listen(socket);
  return server;
}

/** `--apps a,b`: app names, checked before anything is installed. */
function parseAppList(v: string | undefined): string[] {
  const names = (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!APP_NAME_RE.test(n))
      throw new AethirError(
        'INVALID_ARGUMENT',
        `--apps: "${n}" is not an app name (lower-case letters, digits and -, 2 to 41 characters)`,
      );
  return [...new Set(names)];
}

export function containerCommand(): Command {
  const cmd = new Command('container').description(
    'serve this machine to a network: probe, register, stake, heartbeat, run workloads',
  );

  cmd
    .command('probe')
    .description(
      'what the hardware probe finds on this machine (GPUs, CPU, memory, disk, OS), without joining',
    )
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const probe = await probeHardware();
        const fingerprint = fingerprintOf(probe.spec);
        if (opts.json) return printJson({ ...probe, fingerprint });
        const s = probe.spec;
        process.stdout.write(
          [
            `CPU      ${s.cpu.model} (${s.cpu.cores} cores)`,
            `memory   ${(s.memoryMiB / 1024).toFixed(1)} GiB`,
            ...(s.diskFreeMiB !== undefined
              ? [`disk     ${(s.diskFreeMiB / 1024).toFixed(1)} GiB free`]
              : []),
            `OS       ${s.os.platform} ${s.os.release}`,
            `GPUs     ${s.gpus.length ? '' : `none (${probe.gpuProbe.message ?? probe.gpuProbe.status})`}`,
            ...s.gpus.map(
              (g) =>
                `  ${g.index}: ${g.name}${g.reportedName ? ` (nvidia-smi says "${g.reportedName}"; named from PCI ID ${g.pciDeviceId})` : ''}, ${(g.memoryMiB / 1024).toFixed(0)} GiB, driver ${g.driverVersion}` +
                `${g.cudaVersion ? `, CUDA ${g.cudaVersion}` : ''}${g.computeCapability ? `, cc ${g.computeCapability}` : ''}` +
                `${g.migMode === 'enabled' ? ', MIG on' : ''} (${g.uuid})`,
            ),
            `identity ${fingerprint.slice(0, 16)} (MACs, CPU, GPU UUIDs)`,
            ...probe.warnings.map((w) => `warning: ${w}`),
            '',
          ].join('\n'),
        );
      }),
    );

  cmd
    .command('start')
    .description('join a network through one of its API nodes and serve workloads until stopped (Ctrl-C)')
    .requiredOption('--network <url>', 'an API node of the network, e.g. http://10.0.0.5:7420')
    .requiredOption('--location <city>', 'where this machine is, e.g. "Frankfurt, DE"')
    .option('--price <ath>', 'price in ATH per hour (per GPU-hour on GPU hosts)', '0.1')
    .option('--stake <mode>', 'auto: stake what the network requires; none: stake yourself', 'auto')
    .addOption(
      new Option(
        '--isolation <kind>',
        'host runtime: how workloads are isolated: sandbox (each lease its own uid, namespaces, cgroup limits and private network; refused where the machine cannot, naming what is missing), none (plain processes; registered, so users can avoid this host)',
      )
        .choices(['sandbox', 'none'])
        .default('sandbox'),
    )
    .option(
      '--lease-memory <MiB>',
      "memory one lease may use (default: its share of the host: its GPUs' share, or a quarter for a CPU lease); enforced by the sandbox",
      parseIntArg('--lease-memory', 16, 1 << 30),
    )
    .option(
      '--lease-dir <dir>',
      "sandboxed leases' working directories (must not be inside a private directory; default /var/lib/aethir/leases/<hash of --data>)",
    )
    .option(
      '--volumes <GiB>',
      'offer persistent volumes: this much disk for them (loop-mounted ext4 images under --data; needs root and the sandbox)',
      parseIntArg('--volumes', 1, 1 << 20),
    )
    .option('--volume-price <ath>', 'price of a volume, ATH per GiB-hour (with --volumes)', '0.001')
    .option(
      '--declare-gpus <spec>',
      'declare GPUs probing cannot see, e.g. "2x RTX 4090 24GB" (checkers test it)',
    )
    .option('--name <name>', 'name shown to users (default: the host name)')
    .option(
      '--apps <names>',
      'apps to pre-install (once each) and serve sessions of, comma-separated, e.g. "llm-chat,sd-web" (docs/apps.md)',
    )
    .option(
      '--endpoint-port <n>',
      "port of the proxy users reach their workloads' ports through (0: any free one)",
      parseIntArg('--endpoint-port', 0, 65535),
      0,
    )
    .option(
      '--runtime <kind>',
      'how workloads run: host (processes) or docker (the Docker Engine API)',
      'host',
    )
    .option(
      '--docker-socket <path>',
      "Docker Engine API socket (Docker, or Podman's API service)",
      DEFAULT_DOCKER_SOCKET,
    )
    .option(
      '--oci-runtime <name>',
      "docker runtime: the engine's OCI runtime for workloads, e.g. runsc (gVisor); it must be registered with the engine",
    )
    .option(
      '--workload-user <uid:gid>',
      "docker runtime: the user workloads run as (default: the image's USER unless root, else 65534:65534)",
    )
    .option(
      '--image <ref>',
      'docker runtime: image for workloads that name none',
      'docker.io/library/ubuntu:24.04',
    )
    .option(
      '--disk-quota <mib>',
      'what one lease may keep in its working directory, in MiB (a workload over it is stopped)',
      parseIntArg('--disk-quota', 1, 100_000_000),
      DEFAULT_DISK_QUOTA_MIB,
    )
    .option(
      '--prover <command>',
      'the command that answers capacity challenges (JSON over stdio, docs/verification.md); default: the GPU prover where PyTorch sees a CUDA device, else the built-in CPU prover',
    )
    .option(
      '--public-url <url>',
      'how users reach that proxy, e.g. http://gpu-1.example.org:7480 (default: this host)',
    )
    .option('--data <dir>', 'data directory (keys, workloads); default $AETHIR_HOME/container')
    .option('--key <name>', 'signing key in <data>/keys (default: chosen by the hardware fingerprint)')
    .option(
      '--heartbeat <seconds>',
      'heartbeat interval (default: what the network asks, else 60)',
      parseIntArg('--heartbeat', 1, 3600),
    )
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        if (opts.stake !== 'auto' && opts.stake !== 'none')
          throw new AethirError('INVALID_ARGUMENT', '--stake must be auto or none');
        const pricePerHour = parseAth(opts.price);
        const location = locationOf(opts.location);
        const declared = opts.declareGpus ? parseDeclaredGpus(opts.declareGpus) : undefined;
        const apps = parseAppList(opts.apps);
        const prover = await proverOption(opts.prover);
        const dir = dataDirOf(opts);
        const say = (s: string) => process.stderr.write(`${s}\n`);
        const network = new ApiClient(opts.network);
        let status: { chainId: string; heartbeatIntervalMs?: number };
        try {
          status = await (await fetch(`${network.base}/v1/status`)).json();
        } catch (e) {
          throw new AethirError('UNAVAILABLE', `no Aethir API at ${network.base}: ${(e as Error).message}`);
        }
        say(`probing this machine…`);
        const probe = await probeHardware();
        for (const w of probe.warnings) say(`probe: ${w}`);
        const fingerprint = fingerprintOf(probe.spec);
        const spec = declared ? declaredSpec(specFromProbe(probe), declared) : specFromProbe(probe);
        // Keys and workloads: 0700, tightened if an older version left it open to others.
        ensurePrivateDir(dir, say);
        const key = new Keystore(join(dir, 'keys'), say).loadOrCreate(
          opts.key ?? `container-${fingerprint.slice(0, 12)}`,
        );
        if (opts.stake === 'auto') {
          const need = await network.requiredStake(spec.gpus.map((g) => g.model));
          const acct = await network.account(key.address);
          const have = acct.balance + ((await network.container(key.address))?.stake ?? 0n);
          if (have < need)
            throw new AethirError(
              'INSUFFICIENT_FUNDS',
              `staking needs ${formatAth(need)} ATH at ${key.address}, which holds ${formatAth(have)}: send ATH to it first`,
              { details: { address: key.address, need: need.toString(), have: have.toString() } },
            );
        }
        const heartbeatIntervalMs = opts.heartbeat
          ? opts.heartbeat * 1000
          : (status.heartbeatIntervalMs ?? 60_000);
        const bus = new HttpBus({
          base: network.base,
          key,
          chainId: status.chainId,
          clock: systemClock,
          log: say,
        });
        if (opts.runtime !== 'host' && opts.runtime !== 'docker')
          throw new AethirError('INVALID_ARGUMENT', '--runtime must be host or docker');
        if (opts.runtime !== 'docker' && (opts.ociRuntime || opts.workloadUser))
          throw new AethirError(
            'INVALID_ARGUMENT',
            '--oci-runtime and --workload-user need --runtime docker',
          );
        const runtime =
          opts.runtime === 'docker'
            ? new DockerRuntime({
                socketPath: opts.dockerSocket,
                defaultImage: opts.image,
                ociRuntime: opts.ociRuntime,
                user: opts.workloadUser,
              })
            : await hostProcessRuntime({
                isolation: opts.isolation,
                dataDir: dir,
                ...(opts.leaseDir ? { leaseDir: opts.leaseDir } : {}),
                now: () => systemClock.now(),
                log: say,
              });
        if (runtime instanceof DockerRuntime) await runtime.ping();
        const endpoints = new EndpointProxy({ port: opts.endpointPort, publicUrl: opts.publicUrl });
        await endpoints.start();
        const name = (opts.name ?? hostname()).replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'container';
        const agent = new ContainerAgent(
          { network, bus, runtime, endpoints, clock: systemClock, log: say },
          {
            key,
            name,
            spec,
            location,
            pricePerHour,
            heartbeatIntervalMs,
            diskQuotaMiB: opts.diskQuota,
            ...(opts.leaseMemory ? { leaseMemoryMiB: opts.leaseMemory } : {}),
            logDir: join(dir, 'logs'),
            // interruptible leases' checkpoints ($AETHIR_CHECKPOINT_DIR), kept for rent --resume
            checkpointDir:
              runtime instanceof HostProcessRuntime
                ? checkpointsDirOf(runtime, dir)
                : join(dir, 'checkpoints'),
            stakeAuto: opts.stake === 'auto',
            ...(opts.volumes ? { volumes: volumesOf(dir, opts, runtime) } : {}),
            ...(prover ? { prover: () => prover } : {}),
            ...(apps.length && runtime instanceof HostProcessRuntime
              ? { apps, appsDir: appsDirOf(runtime, dir) }
              : apps.length
                ? { apps, appsDir: join(dir, 'apps') }
                : {}),
          },
        );
        await agent.start();
        const socket = join(dir, 'agent.sock');
        const server = serveControl(socket, agent);
        const run: RunFile = { network: network.base, address: key.address, name, pid: process.pid, socket };
        writeFileSync(join(dir, 'container.json'), JSON.stringify(run, null, 2), {
          mode: PRIVATE_FILE_MODE,
        });
        tightenPrivateFile(join(dir, 'container.json'), say);
        const ready = {
          address: key.address,
          name,
          chainId: status.chainId,
          network: network.base,
          spec: { source: spec.source, gpus: spec.gpus.length, cpuCores: spec.cpu.cores },
          fingerprint,
          heartbeatIntervalMs,
          endpoint: endpoints.url,
          apps,
        };
        if (opts.json) printJson({ ready });
        else
          process.stdout.write(
            `container ${name} (${key.address}) serves chain ${status.chainId} through ${network.base}\n` +
              `  ${spec.gpus.length} ${spec.source} GPUs, ${spec.cpu.cores} cores; heartbeat every ${heartbeatIntervalMs / 1000} s\n` +
              (apps.length ? `  apps ${apps.join(', ')}: pre-installing in ${join(dir, 'apps')}\n` : '') +
              `  aethir container status | drain  (--data ${dir})\nStop with Ctrl-C.\n`,
          );
        await runUntilSignal(
          'container (running workloads are stopped, their leases closed)',
          async () => {
            server.close();
            await agent.stop().catch((e) => say(`stopping: ${(e as Error).message}`));
            await runtime.stopAll();
            await endpoints.stop();
            await bus.close();
            rmSync(join(dir, 'container.json'), { force: true });
          },
          say,
        );
      }),
    );

  cmd
    .command('status')
    .description('this container: spec, stake, leases, earnings, last checks')
    .option('--data <dir>', 'data directory of `container start`; default $AETHIR_HOME/container')
    .option('--network <url>', 'API node (default: the one `container start` uses)')
    .option(
      '--address <address>',
      "any container's address (e.g. a devnet's own container), looked up on --network",
    )
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const dir = dataDirOf(opts);
        const run = opts.address ? null : readRunFile(dir);
        const base = opts.network ?? run?.network ?? (opts.address ? DEFAULT_API : undefined);
        if (!run && !opts.network && !opts.address)
          throw new AethirError(
            'NOT_FOUND',
            `no container runs from ${dir}: start one with "aethir container start", or look one up with --address ADDR (e.g. a devnet's own container)`,
          );
        const local = run ? await control(run.socket, 'GET', '/status').catch(() => null) : null;
        const address: string | undefined = opts.address ?? local?.id ?? run?.address;
        if (!address) throw new AethirError('NOT_FOUND', 'unknown container address');
        const api = new ApiClient(base);
        const c = await api.containerView(address);
        if (!c) throw new AethirError('NOT_FOUND', `${address} is not registered on ${base} yet`);
        const acct = await api.account(address);
        const reports = (
          (await (await fetch(`${api.base}/v1/checkers/reports?limit=200`)).json()) as {
            reports: Array<{
              checker: string;
              container: string;
              check: string;
              ok: boolean;
              height: number;
            }>;
          }
        ).reports.filter((r) => r.container === address);
        const out = {
          address,
          name: c.name,
          agent: local
            ? { running: true, draining: local.draining, leases: local.running, apps: local.apps ?? null }
            : { running: false },
          status: c.status,
          serving: c.serving,
          spec: c.spec,
          location: c.location,
          pricePerHour: c.pricePerHour,
          stake: {
            staked: c.stake,
            required: c.requiredStake,
            ok: c.staked,
            slashed: c.slashed,
            unbonding: c.unbonding,
            unbondingUntil: c.unbondingUntil,
          },
          suspended: c.suspended,
          suspendedReason: c.suspendedReason ?? null,
          verdicts: c.checks ?? {},
          incidents: c.incidents ?? [],
          reputation: c.reputation ?? null,
          earnings: {
            earned: c.earned,
            balance: acct.balance.toString(),
            vestingLocked: acct.vesting.locked.toString(),
            claimable: acct.vesting.claimable.toString(),
          },
          lastChecks: reports.slice(0, 10),
        };
        if (opts.json) return printJson(out);
        process.stdout.write(
          [
            `${c.name} ${address}`,
            `  status    ${c.status}${c.serving ? ', serving' : ''}${local?.draining ? ', draining' : ''}${c.suspended ? ', SUSPENDED' : ''}${local ? '' : ' (agent not running here)'}`,
            ...(c.suspended
              ? [
                  `  why       ${c.suspendedReason ?? `its stake is below the requirement after a slash: top it up with "aethir container start --stake auto"`}`,
                ]
              : []),
            `  spec      ${c.spec.gpus.length ? `${c.spec.gpus.length}× ${c.spec.gpus[0]!.model}` : 'no GPUs'} (${c.spec.source}), ${c.spec.cpu.cores} cores`,
            `  location  ${c.location.city}, ${c.location.country}; price ${formatAth(BigInt(c.pricePerHour))} ATH/h`,
            `  stake     ${formatAth(BigInt(c.stake))} of ${formatAth(BigInt(c.requiredStake))} ATH required${BigInt(c.slashed) > 0n ? `; slashed ${formatAth(BigInt(c.slashed))}` : ''}`,
            ...(BigInt(c.unbonding) > 0n && c.unbondingUntil !== null
              ? [
                  `  unbonding ${formatAth(BigInt(c.unbonding))} ATH until ${new Date(c.unbondingUntil).toISOString()}${c.unbondingUntil <= systemClock.now() ? ': withdraw it with "aethir container withdraw"' : ''}`,
                ]
              : []),
            `  earnings  ${formatAth(BigInt(c.earned))} ATH earned; ${formatAth(acct.vesting.claimable)} claimable, ${formatAth(acct.vesting.locked)} vesting`,
            ...(local?.apps
              ? [
                  `  apps      ${
                    [
                      ...local.apps.ready.map(
                        (a: { name: string; version: string }) => `${a.name} ${a.version} ready`,
                      ),
                      ...local.apps.installing.map((a: string) => `${a} installing`),
                      ...local.apps.failed.map((f: { app: string }) => `${f.app} failed`),
                    ].join(', ') || 'none ready yet'
                  }`,
                ]
              : []),
            `  leases    ${local ? (local.running.length ? local.running.map((r: { lease: string }) => r.lease).join(', ') : 'none running') : '?'}`,
            ...verdictLines(c.checks ?? {}),
            ...(c.reputation ? [`  reputation ${reputationLine(c.reputation)}`] : []),
            ...incidentLines(c.incidents ?? []),
            `  reports   ${reports.length ? '' : 'none yet'}`,
            table(
              reports.slice(0, 5).map((r) => ({
                height: r.height,
                check: r.check,
                verdict: r.ok ? 'ok' : 'FAILED',
                checker: `${r.checker.slice(0, 10)}…`,
              })),
              '',
            ),
          ].join('\n'),
        );
      }),
    );

  cmd
    .command('drain')
    .description('finish running leases and take no new ones (maintenance)')
    .option('--data <dir>', 'data directory of `container start`; default $AETHIR_HOME/container')
    .option('--no-wait', 'return at once instead of waiting for running leases to end')
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const dir = dataDirOf(opts);
        const run = readRunFile(dir);
        if (!run) throw new AethirError('NOT_FOUND', `no container runs from ${dir}`);
        let s = await control(run.socket, 'POST', '/drain');
        if (!opts.json) process.stderr.write(`draining ${run.name}: ${s.running.length} leases running\n`);
        while (opts.wait && s.running.length > 0) {
          await new Promise((r) => setTimeout(r, 500));
          s = await control(run.socket, 'GET', '/status');
        }
        if (opts.json) printJson({ draining: true, running: s.running });
        else
          process.stdout.write(
            s.running.length
              ? `still running: ${s.running.map((r: { lease: string }) => r.lease).join(', ')}\n`
              : 'drained: no leases running, none will be taken\n',
          );
      }),
    );

  const signerOptions = (c: Command) =>
    c
      .option(
        '--data <dir>',
        'data directory of `container start` (its keys); default $AETHIR_HOME/container',
      )
      .option('--key <name>', "the container's key in <data>/keys (default: the only one there)")
      .option(
        '--network <url>',
        'API node (default: the one `container start` uses, else ' + DEFAULT_API + ')',
      )
      .addOption(jsonOption());

  signerOptions(
    cmd
      .command('unstake')
      .description(
        'start taking stake back: it unbonds for the network\'s unbonding period (this container takes no leases meanwhile), then "aethir container withdraw" moves it to the balance',
      )
      .option('--amount <ath>', 'ATH to unstake')
      .option('--all', 'unstake everything staked')
      .addHelpText(
        'after',
        '\nLeaving the network:\n  aethir container drain && kill the agent (Ctrl-C)\n  aethir container unstake --all\n  aethir container status      # shows when the unbonding ends\n  aethir container withdraw    # after that',
      ),
  ).action(
    action(async (opts: Record<string, any>) => {
      if ((opts.amount === undefined) === !opts.all)
        throw new AethirError('INVALID_ARGUMENT', 'give either --amount ATH or --all');
      const { key, api } = containerSigner(opts);
      const c = await api.container(key.address);
      if (!c) throw new AethirError('NOT_FOUND', `${key.address} is not a container on ${api.base}`);
      const amount: bigint = opts.all ? c.stake : parseAth(opts.amount);
      if (amount === 0n)
        throw new AethirError(
          opts.all ? 'CONFLICT' : 'INVALID_ARGUMENT',
          opts.all ? 'nothing is staked' : '--amount must be more than 0',
        );
      if (amount > c.stake)
        throw new AethirError(
          'INSUFFICIENT_FUNDS',
          `${formatAth(amount)} ATH asked, ${formatAth(c.stake)} ATH staked`,
          { details: { staked: c.stake.toString() } },
        );
      if (c.openLeases > 0)
        throw new AethirError(
          'CONFLICT',
          `${c.openLeases} leases are open on this container: drain it first ("aethir container drain")`,
        );
      const r = await new TxSender(key, api).send('container.unstake', { amount });
      const until = Number(r.result.until);
      const out = {
        tx: r.id,
        container: key.address,
        unstaked: amount.toString(),
        staked: (c.stake - amount).toString(),
        unbonding: String(r.result.unbonding),
        unbondingUntil: until,
      };
      if (opts.json) return printJson(out);
      process.stdout.write(
        `unstaked ${formatAth(amount)} ATH: ${formatAth(BigInt(out.unbonding))} ATH unbonding until ${new Date(until).toISOString()} (no leases meanwhile), ${formatAth(c.stake - amount)} ATH still staked\n` +
          `then: aethir container withdraw${opts.data ? ` --data ${opts.data}` : ''}\n`,
      );
    }),
  );

  signerOptions(
    cmd
      .command('withdraw')
      .description("move the stake whose unbonding period has ended to the container's balance"),
  ).action(
    action(async (opts: Record<string, any>) => {
      const { key, api } = containerSigner(opts);
      const c = await api.container(key.address);
      if (!c) throw new AethirError('NOT_FOUND', `${key.address} is not a container on ${api.base}`);
      if (c.unbonding === 0n || c.unbondingUntil === null)
        throw new AethirError(
          'CONFLICT',
          'nothing is unbonding: start with "aethir container unstake --all" (or --amount ATH)',
        );
      // Refused here with the date; the ledger refuses too (by its block time) if this clock is ahead.
      if (systemClock.now() < c.unbondingUntil)
        throw new AethirError(
          'CONFLICT',
          `${formatAth(c.unbonding)} ATH unbonds at ${new Date(c.unbondingUntil).toISOString()}: withdraw after that`,
          { details: { unbonding: c.unbonding.toString(), until: c.unbondingUntil } },
        );
      const r = await new TxSender(key, api).send('container.withdraw', {});
      const acct = await api.account(key.address);
      const out = {
        tx: r.id,
        container: key.address,
        withdrawn: String(r.result.withdrawn),
        balance: acct.balance.toString(),
      };
      if (opts.json) return printJson(out);
      process.stdout.write(
        `withdrew ${formatAth(BigInt(out.withdrawn))} ATH to ${key.address}; its balance is ${formatAth(acct.balance)} ATH\n`,
      );
    }),
  );
  return cmd;
}

type Verdict = { ok: boolean; at: number; reason: string };

/** The checkers' latest decided verdict per check, in plain words. */
function verdictLines(checks: Record<string, Verdict>): string[] {
  const kinds = ['liveness', 'capacity', 'location', 'qos'].filter((k) => checks[k]);
  if (kinds.length === 0) return ['  checks    none decided yet'];
  return kinds.map((k, i) => {
    const v = checks[k]!;
    return `${i === 0 ? '  checks    ' : '            '}${k.padEnd(9)} ${v.ok ? 'passed' : 'FAILED'} ${new Date(v.at).toISOString()}: ${v.reason}`;
  });
}

function reputationLine(r: ReputationView): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);
  return `${r.score.toFixed(3)} (uptime ${pct(r.uptime)}, capacity passed ${pct(r.capacityPassRate)}, location passed ${pct(r.locationPassRate)}, QoS ${r.qos === null ? 'n/a' : r.qos.toFixed(2)}, ${r.slashes} slash${r.slashes === 1 ? '' : 'es'})`;
}

function incidentLines(
  incidents: Array<{ at: number; check: string; reason: string; slashed: string; leases: string[] }>,
): string[] {
  if (incidents.length === 0) return [];
  return incidents
    .slice(-5)
    .reverse()
    .map(
      (x, i) =>
        `${i === 0 ? '  incidents ' : '            '}${new Date(x.at).toISOString()} ${x.check}: ${x.reason}; slashed ${formatAth(BigInt(x.slashed))} ATH${x.leases.length ? `; leases closed and refunded: ${x.leases.join(', ')}` : ''}`,
    );
}

/**
 * The argv of a --prover option (undefined: none given), checked: it must start and say "ready".
 */
export async function proverOption(value: unknown): Promise<string[] | undefined> {
  if (value === undefined) return undefined;
  const prover = String(value).trim().split(/\s+/).filter(Boolean);
  if (prover.length === 0)
    throw new AethirError('INVALID_ARGUMENT', '--prover needs a command, e.g. "python3 -u my_prover.py"');
  await checkProver(prover);
  return prover;
}

/**
 * A prover that cannot start would fail every capacity check (and be slashed for it): refuse it
 * before anything is registered. It must start and say "ready" (docs/verification.md).
 */
async function checkProver(argv: string[]): Promise<void> {
  const ch = spawnProver(argv);
  const first = await ch.receive(60_000);
  await ch.close();
  if (first.kind === 'message' && first.message.type === 'ready') return;
  const what =
    first.kind === 'closed'
      ? first.reason
      : first.kind === 'invalid'
        ? `it printed ${JSON.stringify(first.line.slice(0, 80))}`
        : first.kind === 'timeout'
          ? 'no answer within 60 s'
          : `it answered "${first.message.type}"`;
  const err = ch.stderrTail?.().trim();
  throw new AethirError(
    'CONFIG_INVALID',
    `--prover ${argv.join(' ')} did not say "ready": ${what}${err ? `; stderr: ${err.split('\n').slice(-2).join(' | ')}` : ''}`,
  );
}

/** `--volumes N`: this host's volume store and offer; refused where volumes cannot be kept. */
function volumesOf(
  dir: string,
  opts: Record<string, any>,
  runtime: { isolation?: 'sandbox' | 'none' },
): NonNullable<ContainerAgentInit['volumes']> {
  const can = canKeepVolumes();
  if (!can.ok) throw new AethirError('CONFIG_INVALID', `--volumes: ${can.why}`);
  if (runtime.isolation !== 'sandbox' && !(runtime instanceof DockerRuntime))
    throw new AethirError(
      'CONFIG_INVALID',
      '--volumes: volumes are bound into sandboxed or Docker leases only',
    );
  return {
    store: new VolumeStore(join(dir, 'volumes'), defaultVolumeMountRoot(dir)),
    pricePerGiBHour: parseAth(String(opts.volumePrice)),
    capacityGiB: Number(opts.volumes),
  };
}
