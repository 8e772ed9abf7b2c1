import { Command, Option } from 'commander';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { parseEnv } from 'node:util';
import { parseAth } from '../../core/amount.js';
import { writeOrWait } from '../../core/backpressure.js';
import { AethirError, isAethirError } from '../../core/errors.js';
import { findCity } from '../../core/gazetteer.js';
import type { KeyPair } from '../../core/keys.js';
import { MAX_LEASE_TOKEN_TTL_MS, signLeaseToken } from '../../core/lease-token.js';
import { ENV_NAME_RE } from '../../core/seal.js';
import type { ApiClient } from '../../sdk/client.js';
import { UsageReceipts } from '../../sdk/receipts.js';
import { Renter, type OpenOptions } from '../../sdk/renter.js';
import { sealedEnvFor } from '../../sdk/sealed-env.js';
import { resolveVolume } from '../../sdk/volumes.js';
import { defaultIsolation, parseClauses, parseQuery } from '../../indexer/query.js';
import { queryHelp } from './offers.js';
import { appGpus } from '../../ledger/app.js';
import { MountPath } from '../../ledger/modules/volumes/payloads.js';
import { followFunds } from '../top-ups.js';
import { parseAppRef } from './app.js';
import { attachTerminal } from './access.js';
import {
  action,
  apiOption,
  client,
  fmtAth,
  jsonOption,
  parseDuration,
  parseIntArg,
  parseNumberArg,
  printJson,
  userKeystore,
} from '../common.js';

/**
 * The capacity-market flags of `rent`: --reservation, --interruptible --bid, --resume (checked
 * together; each names what it cannot go with). Returns what `Renter.open` takes for them, and
 * for --resume without a command the resumed lease's command.
 */
async function marketOf(
  api: ApiClient,
  opts: Record<string, any>,
  command: string[],
): Promise<{
  open: Partial<
    Pick<OpenOptions, 'interruptible' | 'reservation' | 'resumes' | 'container' | 'checkpointDir'>
  >;
  command?: string[];
  /** the GPUs of the lease a --no-checkpoint resume starts again */
  gpus?: number;
}> {
  const bad = (m: string) => new AethirError('INVALID_ARGUMENT', m);
  if (opts.bid !== undefined && !opts.interruptible && !opts.resume)
    throw bad('--bid goes with --interruptible (or --resume)');
  if (opts.interruptible && opts.bid === undefined)
    throw bad('--interruptible needs --bid ATH (per GPU-hour)');
  if (opts.reservation && (opts.interruptible || opts.resume))
    throw bad(
      'a lease on a reservation is not interruptible: give --reservation or --interruptible/--resume',
    );
  if ((opts.reservation || opts.resume) && opts.app)
    throw bad('--reservation and --resume run a command, not --app');
  let bid: bigint | undefined;
  if (opts.bid !== undefined) {
    bid = parseAth(String(opts.bid));
    if (bid <= 0n) throw bad('--bid must be more than 0 ATH per GPU-hour');
  }
  if (opts.container && (opts.reservation || opts.resume))
    throw bad('--container goes with neither --reservation nor --resume (they know their host)');
  if (opts.reservation) return { open: { reservation: String(opts.reservation) } };
  if (opts.checkpoint === false && !opts.resume) throw bad('--no-checkpoint goes with --resume');
  if (opts.resume) {
    const old = await api.leaseView(String(opts.resume));
    if (!old) throw new AethirError('NOT_FOUND', `no lease ${opts.resume}`);
    if (command.length === 0 && !old.workload.command)
      throw bad(`lease ${old.id} ran an app: give the command to run after --`);
    const again = command.length === 0 ? { command: old.workload.command! } : {};
    // --no-checkpoint: the same command, GPUs and bid, as a new interruptible lease on any host
    if (opts.checkpoint === false)
      return {
        open: { interruptible: { bidPerHour: bid ?? BigInt(old.pricePerHour) } },
        gpus: old.gpus,
        ...again,
      };
    return {
      open: { resumes: old.id, ...(bid !== undefined ? { interruptible: { bidPerHour: bid } } : {}) },
      ...again,
    };
  }
  return {
    open: {
      ...(bid !== undefined ? { interruptible: { bidPerHour: bid } } : {}),
      ...(opts.container ? { container: String(opts.container) } : {}),
    },
  };
}

/**
 * The workload's env: a dotenv file (Node's own parser, util.parseEnv), then --env KEY=VALUE,
 * which wins. Names must be variable names.
 */
export function envOf(file: string | undefined, pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new AethirError('INVALID_ARGUMENT', `cannot read --env-file ${file}: ${(e as Error).message}`);
    }
    Object.assign(env, parseEnv(text));
  }
  for (const kv of pairs) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new AethirError('INVALID_ARGUMENT', `--env takes KEY=VALUE, got "${kv}"`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  for (const name of Object.keys(env))
    if (!ENV_NAME_RE.test(name))
      throw new AethirError('INVALID_ARGUMENT', `"${name}" is not a variable name (letters, digits, _)`);
  return env;
}

/** What an interactive lease runs while its user's command runs in it through a session. */
const KEEP_OPEN = ['sh', '-c', 'while :; do sleep 3600; done'];

/**
 * `rent -it`: once the lease's workload runs (after any image pull), the command in a terminal
 * session wired to this one; resolves with its exit code.
 */
async function runInteractive(
  client: ApiClient,
  key: KeyPair,
  chainId: string,
  leaseId: string,
  command: string[],
): Promise<number> {
  const t = {
    api: client.base,
    lease: leaseId,
    token: signLeaseToken(key, { chainId, lease: leaseId, exp: Date.now() + 3_600_000, scope: ['exec'] }),
  };
  // the lease's door opens when its workload has started: until then the host says CONFLICT
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      return await attachTerminal(t, command, { tty: true, stdin: true });
    } catch (e) {
      const starting = isAethirError(e) && (e.code === 'CONFLICT' || e.code === 'NOT_FOUND');
      if (!starting || Date.now() > deadline || (await client.leaseView(leaseId))?.status !== 'open') throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** How many times a job is restarted on another container after the one serving it went offline. */
const MAX_FAILOVERS = 3;

export function rentCommand(): Command {
  return new Command('rent')
    .description(
      "rent compute and run a command on it: finds a container, opens a lease (escrow), streams the workload's output, settles",
    )
    .argument('[command...]', 'the workload: a program and its arguments (put -- before it); or --app')
    .option(
      '--app <name[@version]>',
      'start a session of a published app instead of a command, on a container that has it pre-installed',
    )
    .option('--gpus <n>', 'number of GPUs (0 = CPU only)', parseIntArg('--gpus', 0, 64), 0)
    .option(
      '--reservation <id>',
      'run on one of your reservations ("aethir reserve"): its host, its GPUs (default: all free), no extra charge',
    )
    .option(
      '--interruptible',
      'run at your --bid while no one pays more: a higher bid or on-demand lease preempts it with notice (SIGTERM; $AETHIR_CHECKPOINT_DIR is kept for --resume); charged only up to the preemption',
    )
    .option(
      '--bid <ath>',
      "with --interruptible: your price, ATH per GPU-hour (at most the host's on-demand price)",
    )
    .option(
      '--container <address>',
      'this host, without a match (a higher bid or on-demand lease preempts its interruptible leases)',
    )
    .option(
      '--resume <lease>',
      'start a preempted or ended interruptible lease again, on any host that matches, with its checkpoint files copied in (fetched from the host that kept them, params.checkpointKeepMs after it ended); its command, GPUs and bid unless you give them',
    )
    .option(
      '--no-checkpoint',
      'with --resume: start it again without its checkpoint (when the host that kept it is gone)',
    )
    .option(
      '--image <ref>',
      'run the command in this OCI image (only on containers with a Docker engine; those with it cached rank first; the pull is shown)',
    )
    .option(
      '-i, --interactive',
      'with -t: the command runs interactively in the lease, wired to this terminal, like docker run -it',
    )
    .option('-t, --tty', 'give the command a terminal (with -i)')
    .option(
      '--gpu-model <model>',
      'GPU model, e.g. "4090" or "H100" (whole word of the model name, case-insensitive)',
    )
    .option('--region <region>', 'region or region prefix, e.g. "eu" or "us-west"')
    .option('--max-price <ath>', 'highest price you accept, ATH per GPU-hour (per hour for CPU)')
    .option(
      '--max-duration <dur>',
      'longest the lease may run (escrow is locked for it; unused time is refunded)',
      '1h',
    )
    .addOption(
      new Option('--strategy <s>', 'how the indexer ranks containers')
        .choices(['lowest-fee', 'best-experience', 'balanced'])
        .default('lowest-fee'),
    )
    .option('--min-vram <GiB>', 'minimum memory per GPU, in GiB', parseIntArg('--min-vram', 1, 10_000))
    .option('--near <city>', 'where you are, e.g. "Paris, FR" (for latency; see --max-latency)')
    .option(
      '--max-latency <ms>',
      'highest acceptable estimated round trip to you, in ms',
      parseIntArg('--max-latency', 1, 10_000),
    )
    .option(
      '--min-reputation <score>',
      "lowest reputation you accept, 0 to 1 (from the checkers' verdicts: uptime, capacity and location passed, QoS, slashes)",
      parseNumberArg('--min-reputation', 0, 1),
    )
    .addOption(
      new Option(
        '--isolation <kind>',
        'sandbox: only containers that run every workload in the lease sandbox (own uid, namespaces, cgroup limits, private network); any: also hosts registered with --isolation none. Default: sandbox for GPU leases, any for CPU leases',
      ).choices(['sandbox', 'any']),
    )
    .option(
      '--env <KEY=VALUE...>',
      "environment variables for the workload, sealed to the container's key (only it reads the values)",
    )
    .option(
      '--volume <name:/path[:ro]>',
      "mount your persistent volume (aethir volume create) at /path; the lease runs on the volume's host; one writer at a time (:ro to read only); repeatable",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--env-file <path>', 'more of them from a dotenv file (KEY=VALUE lines; --env wins)')
    .option(
      '--public-endpoint',
      "anyone may open the workload's endpoint (a web app); default: only holders of your lease token",
    )
    .option(
      '--port <n>',
      "the TCP port your workload listens on in its sandbox or image (e.g. 8888 for Jupyter): the lease's endpoint forwards to it, and to nothing else (default: the workload listens on $AETHIR_PORT). Needs a sandboxed or Docker host",
      parseIntArg('--port', 1, 65535),
    )
    .option(
      '--query <q>',
      'what to rent in the offers query language, e.g. \'gpu_ram>=24 num_gpus>=2 region=eu price<2\' (its fields win over the flags above; "aethir offers" lists what it matches)',
    )
    .option(
      '--detach',
      'return at once with the lease id and endpoint; the lease runs until "aethir stop", its --max-duration or its escrow ends, paid by time served (see "aethir logs", "aethir wait")',
    )
    .option(
      '--deposit <dur>',
      'lock escrow for this much of --max-duration only, e.g. 10m: when it runs out the lease is paused (workload stopped, files kept for the network\'s grace period) until topped up ("aethir lease topup", --top-up)',
    )
    .option(
      '--top-up <ath>',
      'with --deposit: let the host top the lease up from your balance when its escrow runs low, up to this many ATH in all (an allowance held on the ledger: works with --detach and no client running)',
    )
    .option('--key <name>', 'key that pays (in $AETHIR_HOME/keys)', 'developer')
    .addOption(
      new Option(
        '--receipt-interval <s>',
        'how often to sign a usage receipt for the service so far, in seconds (the container is paid up to the latest)',
      )
        .env('AETHIR_RECEIPT_INTERVAL_S')
        .argParser(parseIntArg('--receipt-interval', 1, 3600))
        .default(60),
    )
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `\nExamples:\n  npx aethir rent -- node -e "console.log(6*7)"\n  npx aethir rent --gpus 1 --gpu-model 4090 --region eu -- python3 train.py\n  npx aethir rent --query 'gpu_ram>=24 num_gpus>=2 region=eu price<2' -- python3 train.py\n  npx aethir rent --detach --max-duration 8h -- python3 serve.py   # prints the lease id\n  npx aethir rent --image jupyter/base-notebook --detach --port 8888 -- start-notebook.py   # prints the lease id and endpoint\n  npx aethir rent --app llm-chat --region eu\n\n${queryHelp()}\n\nExit code: the workload's exit code (0 with --detach once the lease runs).`,
    )
    .hook('preAction', (cmd) => {
      // A usage error (exit 2), as a missing argument is: the command is optional only with --app.
      if (cmd.args.length === 0 && !cmd.opts().app && !cmd.opts().resume)
        cmd.error("error: missing required argument 'command' (or give --app NAME)", {
          exitCode: 2,
          code: 'commander.missingArgument',
        });
    })
    .action(
      action(async (command: string[], opts: Record<string, any>, cmd: Command) => {
        const api = client(opts);
        // --app: a session of a published app, on a container that reports it ready (no install step).
        const app = opts.app
          ? await appFor(api, opts.app, cmd.getOptionValueSource('gpus') === 'cli', opts)
          : null;
        const market = await marketOf(api, opts, command);
        if (market.command) command = market.command;
        if (market.gpus !== undefined) opts.gpus = market.gpus;
        if (!app && command.length === 0)
          throw new AethirError('INVALID_ARGUMENT', 'give a command to run (after --), or --app NAME');
        if (app && command.length)
          throw new AethirError('INVALID_ARGUMENT', 'give a command or --app, not both');
        const interactive = !!opts.interactive && !!opts.tty;
        if ((opts.interactive || opts.tty) && !interactive)
          throw new AethirError(
            'INVALID_ARGUMENT',
            '-i and -t go together (-it): an interactive command in a terminal',
          );
        if (interactive && app) throw new AethirError('INVALID_ARGUMENT', '-it runs a command, not an app');
        if (opts.port !== undefined && app)
          throw new AethirError(
            'INVALID_ARGUMENT',
            '--port goes with a command: an app serves on the port it is given',
          );
        if (opts.port !== undefined && opts.isolation === 'any')
          throw new AethirError(
            'INVALID_ARGUMENT',
            "--port needs the lease's own network (a sandboxed or Docker host): not with --isolation any",
          );
        const key = userKeystore().load(opts.key);
        const maxDurationSec = parseDuration(opts.maxDuration);
        const depositSec = opts.deposit === undefined ? undefined : parseDuration(opts.deposit);
        if (depositSec !== undefined && (depositSec < 1 || depositSec > maxDurationSec))
          throw new AethirError('INVALID_ARGUMENT', '--deposit is at least 1s and at most --max-duration');
        let topUpAth: bigint | undefined;
        if (opts.topUp !== undefined) {
          try {
            topUpAth = parseAth(String(opts.topUp));
          } catch (e) {
            throw new AethirError('INVALID_ARGUMENT', `--top-up: ${(e as Error).message}`);
          }
          if (topUpAth <= 0n) throw new AethirError('INVALID_ARGUMENT', '--top-up must be more than 0 ATH');
          if (opts.deposit === undefined)
            throw new AethirError(
              'INVALID_ARGUMENT',
              '--top-up goes with --deposit (a lease whose escrow pays for all of --max-duration never runs low)',
            );
        }
        const env = envOf(opts.envFile as string | undefined, (opts.env as string[] | undefined) ?? []);
        // --query: its fields replace the flags' (the same parser as "aethir offers" and GET /v1/offers)
        const query = opts.query === undefined ? undefined : parseQuery(opts.query as string);
        if (query && parseClauses(opts.query as string).some((c) => c.field === 'num_gpus'))
          opts.gpus = query.gpus;
        const maxPrice =
          query?.maxPricePerHour ?? (opts.maxPrice === undefined ? undefined : parseAth(opts.maxPrice));
        const near = opts.near ? findCity(opts.near) : undefined;
        if (opts.maxLatency && !near && !opts.region)
          throw new AethirError(
            'INVALID_ARGUMENT',
            '--max-latency needs to know where you are: give --near CITY or --region',
          );
        const say = (s: string) => {
          if (!opts.json) process.stderr.write(process.stderr.isTTY ? `\x1b[2m${s}\x1b[0m\n` : `${s}\n`);
        };
        // --resume: the checkpoint comes first from the host that kept it (nothing is paid if it
        // cannot), then goes into the new lease wherever the match puts it
        if (market.open.resumes !== undefined) {
          const dir = mkdtempSync(joinPath(tmpdir(), 'aethir-checkpoint-'));
          process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
          const got = await new Renter(api, key).fetchCheckpoint(market.open.resumes, dir);
          say(`fetched the checkpoint of ${market.open.resumes} (${got.files} files, ${got.bytes} bytes)`);
          market.open.checkpointDir = dir;
        }

        const volumes = await volumeMounts(api, key.address, (opts.volume as string[] | undefined) ?? []);
        const marketHost = (market.open as { container?: string }).container;
        if (volumes && marketHost && marketHost !== volumes.host)
          throw new AethirError(
            'INVALID_ARGUMENT',
            `--volume runs the lease on its volume's host ${volumes.host}, but the other options name ${marketHost}`,
          );
        const failovers: Array<{ lease: string; container: string; charged: string; reason: string | null }> =
          [];
        for (;;) {
          const renter = new Renter(api, key);
          const sender = renter.sender;
          const chainId = await renter.chainId();
          const opened = await renter.open({
            request: {
              gpus: opts.gpus,
              gpuModel: opts.gpuModel,
              region: opts.region,
              maxPricePerHour: maxPrice?.toString(),
              strategy: opts.strategy,
              ...(opts.minVram ? { minVramMiB: opts.minVram * 1024 } : {}),
              ...(near ? { location: { lat: near.lat, lon: near.lon } } : {}),
              ...(opts.maxLatency ? { maxLatencyMs: opts.maxLatency } : {}),
              ...(opts.minReputation !== undefined ? { minReputation: opts.minReputation } : {}),
              // a lease's own port needs its own network: only sandboxed and Docker hosts give one
              isolation:
                opts.port !== undefined ? 'sandbox' : (opts.isolation ?? defaultIsolation(opts.gpus)),
              ...(app ? { app: app.ref } : {}),
              ...(opts.image ? { image: opts.image } : {}),
              ...(query ? { ...query, gpus: opts.gpus, maxPricePerHour: maxPrice?.toString() } : {}),
            },
            maxDurationSec,
            ...(depositSec !== undefined ? { depositSec } : {}),
            ...(topUpAth !== undefined ? { topUpLimit: topUpAth } : {}),
            ...(maxPrice !== undefined ? { maxPricePerHour: maxPrice } : {}),
            ...(volumes ? { container: volumes.host } : {}),
            ...market.open,
            onProgress: say,
            workload: async (c) => {
              // Env values only ever leave this machine sealed to the matched container's key.
              const sealed = await sealedEnvFor(env, c, chainId, key.address);
              return {
                ...(app
                  ? { app: app.name, ...(app.version ? { version: app.version } : {}) }
                  : // -it: the lease holds the box open; the command runs in it through a session
                    { command: interactive ? KEEP_OPEN : command }),
                ...(opts.image ? { image: opts.image } : {}),
                ...(opts.port !== undefined ? { port: opts.port as number } : {}),
                ...sealed,
                ...(opts.publicEndpoint ? { publicEndpoint: true } : {}),
                ...(volumes ? { volumes: volumes.mounts } : {}),
              };
            },
          });
          const c = opened.match.container;
          const leaseId = opened.lease;
          if (opts.detach) {
            // No client stays to sign receipts: pay ahead for the whole maximum duration; the ledger
            // still charges only the time the lease runs (until stop, exit, its end or its host's loss).
            const d = await renter.detached(opened);
            if (opts.json)
              printJson({
                lease: leaseId,
                container: c.id,
                containerName: c.name,
                endpoint: d.endpoint,
                ...(opts.port !== undefined ? { port: opts.port } : {}),
                token: d.token,
                escrow: d.escrow.toString(),
                maxDurationSec,
                endsAt: d.endsAt,
                ...(depositSec !== undefined ? { depositSec } : {}),
                ...(topUpAth !== undefined ? { topUp: topUpAth.toString() } : {}),
              });
            else {
              process.stdout.write(`${leaseId}\n`);
              if (d.endpoint)
                say(
                  `endpoint ${d.endpoint}  (${opts.port !== undefined ? `port ${opts.port} in the lease` : "the workload's port, AETHIR_PORT"})`,
                );
              say(
                `detached: runs until "aethir stop ${leaseId}" or ${new Date(d.endsAt).toISOString()} (--max-duration)${depositSec !== undefined ? `, paused when its ${depositSec}s deposit runs out until topped up ("aethir lease topup ${leaseId} --amount ATH"${topUpAth !== undefined ? '; its host tops it up from your balance within --top-up' : ''})` : ''}; "aethir logs -f ${leaseId}", "aethir wait ${leaseId}"`,
              );
            }
            return 0;
          }
          // This client's authority over the lease's logs and endpoint, for as long as it may run.
          const token = signLeaseToken(key, {
            chainId,
            lease: leaseId,
            exp: Date.now() + Math.min(MAX_LEASE_TOKEN_TTL_MS, maxDurationSec * 1000 + 3_600_000),
          });
          const view = await api.leaseView(leaseId).catch(() => undefined);
          const endpoint = view?.endpoint;
          if (endpoint)
            say(
              `endpoint ${opts.publicEndpoint ? endpoint : `${endpoint}?token=${token}`}  (${opts.port !== undefined ? `port ${opts.port} in the lease` : "the workload's port, AETHIR_PORT"})`,
            );

          // Usage receipts: while the output streams, sign every --receipt-interval seconds what was
          // served so far (the container is paid up to the latest); also at the first output and at
          // the exit, so a short workload is paid for what it ran. No receipts, no pay: a client that
          // goes away stops paying, and the container ends the lease after the grace period.
          const receipts = new UsageReceipts({
            send: (r) => api.sendReceipt(r),
            key,
            chainId,
            lease: leaseId,
            openedAt: view?.openedAt ?? Date.now(),
            onError: (e) => {
              if (!(isAethirError(e) && e.code === 'CONFLICT'))
                say(`usage receipt not delivered: ${e.message}`);
            },
          });
          let streaming = true;
          // a deposit that runs out pauses the lease: warn (its host tops it up within --top-up)
          const funds = new AbortController();
          if (depositSec !== undefined) void followFunds(renter, leaseId, { signal: funds.signal, say });
          const receiptTimer = setInterval(
            () => void receipts.sign(streaming),
            (opts.receiptInterval as number) * 1000,
          );

          // Ctrl-C closes the lease: the container kills the workload and we pay only for the time used.
          let interrupted = false;
          const onSigint = () => {
            if (interrupted) process.exit(130);
            interrupted = true;
            say('interrupted: closing the lease…');
            sender.send('lease.close', { lease: leaseId, reason: 'cancelled by user' }).catch((e) => {
              if (!(isAethirError(e) && e.code === 'CONFLICT'))
                process.stderr.write(`error closing lease: ${(e as Error).message}\n`);
            });
          };
          process.on('SIGINT', onSigint);

          let exitCode: number | null = null;
          let exitReason = '';
          let output = false;
          // -it: the user's command in a terminal session once the lease runs; its end closes the lease.
          const session = interactive
            ? runInteractive(api, key, chainId, leaseId, command).then(
                async (code) => {
                  await sender
                    .send('lease.close', { lease: leaseId, reason: 'interactive command ended' })
                    .catch(() => undefined);
                  return code;
                },
                async (e: unknown) => {
                  await sender
                    .send('lease.close', { lease: leaseId, reason: 'interactive session failed' })
                    .catch(() => undefined);
                  throw e;
                },
              )
            : null;
          session?.catch(() => undefined);
          try {
            for await (const e of api.logs(leaseId, token)) {
              if (e.type !== 'exit' && !output) {
                output = true;
                if (!interrupted) void receipts.sign();
              }
              if (e.type === 'stdout') await writeOrWait(process.stdout, e.data);
              else if (e.type === 'stderr') await writeOrWait(process.stderr, e.data);
              else if (e.type === 'exit') {
                exitCode = e.exitCode;
                exitReason = e.message ?? e.reason;
                // The final receipt: the container closes the lease with it.
                if (!interrupted) void receipts.sign();
              }
            }
          } finally {
            streaming = false;
            funds.abort();
            clearInterval(receiptTimer);
          }
          await receipts.flush();
          // The container closes the lease right after the exit; wait for the final settlement.
          let lease = await api.leaseView(leaseId);
          const deadline = Date.now() + 15_000;
          while (lease && lease.status !== 'closed' && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 100));
            lease = await api.leaseView(leaseId);
          }
          process.off('SIGINT', onSigint);
          if (!lease) throw new AethirError('NOT_FOUND', `lease ${leaseId} disappeared`);
          // The container went down while serving: the ledger closed the lease at the first offline
          // observation and refunded the undelivered time. A job restarts on another container.
          const wentOffline =
            !interrupted &&
            exitCode === null &&
            lease.closedBy === lease.container &&
            /went offline/.test(lease.closeReason ?? '');
          if (wentOffline && failovers.length < MAX_FAILOVERS) {
            failovers.push({
              lease: lease.id,
              container: lease.container,
              charged: lease.charged,
              reason: lease.closeReason,
            });
            say(
              `${c.name} went offline: paid ${fmtAth(lease.charged, 12)} for the time delivered; re-matching…`,
            );
            continue;
          }
          const code = session ? await session : (exitCode ?? lease.exitCode ?? (interrupted ? 130 : 1));
          const summary = {
            failovers,
            lease: lease.id,
            container: lease.container,
            containerName: c.name,
            status: lease.status,
            exitCode: code,
            reason: lease.closeReason ?? exitReason,
            durationMs: lease.durationMs,
            /** the service this client signed for (usage receipts): what the container could charge */
            servedMs: lease.receiptServedMs,
            pricePerHour: lease.pricePerHour,
            charged: lease.charged,
            hostShare: lease.hostShare,
            protocolShare: lease.protocolShare,
            refunded: (BigInt(lease.escrow) - BigInt(lease.charged)).toString(),
          };
          if (opts.json) printJson(summary);
          else {
            const charged = BigInt(lease.charged);
            const pct = (part: string) =>
              charged > 0n ? Number((BigInt(part) * 10000n + charged / 2n) / charged) / 100 : 0;
            process.stderr.write(
              [
                '',
                `── lease ${lease.id} ${lease.status}${lease.closeReason ? ` (${lease.closeReason})` : ''}`,
                `   container  ${c.name} ${lease.container}`,
                `   duration   ${(lease.durationMs / 1000).toFixed(3)} s  (${(lease.receiptServedMs / 1000).toFixed(3)} s signed for in usage receipts)`,
                `   charged    ${fmtAth(lease.charged, 12)}  at ${fmtAth(lease.pricePerHour)}/h`,
                `   split      host ${fmtAth(lease.hostShare, 12)} (${pct(lease.hostShare)}%)  protocol ${fmtAth(lease.protocolShare, 12)} (${pct(lease.protocolShare)}%)`,
                `   refunded   ${fmtAth(summary.refunded, 12)}`,
                `   exit code  ${code}`,
                ...failovers.map(
                  (f) =>
                    `   failover   lease ${f.lease} on ${f.container}: ${f.reason} (paid ${fmtAth(f.charged, 12)})`,
                ),
                '',
              ].join('\n'),
            );
          }
          return code < 0 ? 1 : code;
        }
      }),
    );
}

/**
 * The app of `rent --app name[@version]`, checked before any money moves: it must be published,
 * and the lease asks at least the GPUs it needs (all of them when --gpus is not given).
 */
async function appFor(
  api: ApiClient,
  ref: string,
  gpusGiven: boolean,
  opts: Record<string, any>,
): Promise<{ name: string; version?: string; ref: string }> {
  const { name, version } = parseAppRef(ref, '--app');
  const published = await api.app(name, version);
  if (!published) {
    const other = version ? await api.app(name) : undefined;
    throw new AethirError(
      'NOT_FOUND',
      other
        ? `app ${name} has no version ${version}; published: ${other.versions.join(', ')}`
        : `no app "${name}" is published (aethir app ls lists them)`,
    );
  }
  const need = appGpus(published.manifest);
  if (gpusGiven && opts.gpus < need)
    throw new AethirError(
      'INVALID_ARGUMENT',
      `app ${name} ${published.version} needs ${need} GPU${need === 1 ? '' : 's'}; --gpus ${opts.gpus} is too few`,
    );
  if (!gpusGiven) opts.gpus = need;
  return { name, ...(version ? { version } : {}), ref };
}

/**
 * `--volume data:/data[:ro]`: the user's live volumes by name (or id), all on one host (the lease
 * runs there). Null: none asked.
 */
export async function volumeMounts(
  api: ApiClient,
  owner: string,
  specs: readonly string[],
): Promise<{ host: string; mounts: Array<{ volume: string; path: string; readOnly?: boolean }> } | null> {
  if (specs.length === 0) return null;
  const mounts: Array<{ volume: string; path: string; readOnly?: boolean }> = [];
  let host: string | null = null;
  for (const s of specs) {
    const m = /^([A-Za-z0-9_-]{1,64}):(\/[^:]*)(?::(ro|rw))?$/.exec(s);
    if (!m) throw new AethirError('INVALID_ARGUMENT', `--volume ${s}: give NAME:/path (or NAME:/path:ro)`);
    const r = MountPath.safeParse(m[2]);
    if (!r.success) throw new AethirError('INVALID_ARGUMENT', `--volume ${s}: ${r.error.issues[0]!.message}`);
    const v = await resolveVolume(api, owner, m[1]!);
    if (host !== null && v.container !== host)
      throw new AethirError(
        'INVALID_ARGUMENT',
        `--volume ${s}: your volumes live on different hosts; a lease runs on one`,
      );
    host = v.container;
    mounts.push({ volume: v.id, path: m[2]!, ...(m[3] === 'ro' ? { readOnly: true } : {}) });
  }
  return { host: host!, mounts };
}
