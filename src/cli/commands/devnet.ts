import { Command, Option } from 'commander';
import { loadConfig } from '../../core/config.js';
import { AethirError } from '../../core/errors.js';
import { startDevnetNode } from '../../node/index.js';
import { action, limitOption, logLevelOption, parseIntArg, runUntilSignal } from '../common.js';
import { proverOption } from './container.js';

export function devnetCommand(): Command {
  return new Command('devnet')
    .description(
      'run a whole local network in this process: ledger, indexer, 3 checkers, this machine as a container, the API and the dashboard',
    )
    .option('--port <n>', 'API and dashboard port (0 picks a free one)', parseIntArg('--port', 0, 65535))
    .option('--host <addr>', 'address to listen on')
    .option('--data <dir>', 'data directory (ledger, node keys); default $AETHIR_HOME/devnet')
    .option(
      '--demo-containers <n>',
      'add N simulated GPU hosts in real cities',
      parseIntArg('--demo-containers', 0, 500),
    )
    .option('--location <city>', 'where this machine is, e.g. "Frankfurt, DE"')
    .option('--price <ath>', "this machine's price in ATH per hour (per GPU-hour on GPU hosts)")
    .option(
      '--apps <names>',
      'apps this machine pre-installs once they are published, comma-separated (docs/apps.md)',
    )
    .option(
      '--epoch <seconds>',
      'Proof-of-Capacity epoch of a new devnet; every check cadence scales with it (default 900: probes and QoS every minute, capacity daily)',
      parseIntArg('--epoch', 1, 86_400),
    )
    .option(
      '--unbonding <seconds>',
      "how long a new devnet's unstaked stakes unbond before they can be withdrawn (default 180 days)",
      parseIntArg('--unbonding', 0, 730 * 86_400),
    )
    .option(
      '--pause-grace <seconds>',
      'how long a new devnet keeps a lease whose escrow ran out paused, its files kept, for a top-up (default 600)',
      parseIntArg('--pause-grace', 1, 30 * 86_400),
    )
    .option(
      '--declare-gpus <spec>',
      'this machine declares GPUs instead of probing them, e.g. "1x H100 80GB" (checkers test the claim)',
    )
    .addOption(
      new Option(
        '--isolation <kind>',
        "this machine's container: how workloads are isolated: sandbox (each lease its own uid, namespaces, cgroup limits and private network; refused where the machine cannot, naming what is missing), none (plain processes; registered, so users can avoid this host); auto: sandbox where the machine can, else none with a warning",
      )
        .choices(['sandbox', 'none', 'auto'])
        .default('auto'),
    )
    .option(
      '--lease-memory <MiB>',
      "memory one lease may use (default: its share of the host: its GPUs' share, or a quarter for a CPU lease); enforced by the sandbox",
      parseIntArg('--lease-memory', 16, 1 << 30),
    )
    .option(
      '--prover <command>',
      "the command that answers capacity challenges for this machine's container (as container start --prover); default: the GPU prover where PyTorch sees a CUDA device, else the built-in CPU prover",
    )
    .option('--config <file>', 'JSON config file (defaults -> file -> AETHIR_* env -> flags)')
    .addOption(limitOption())
    .addOption(logLevelOption())
    .addHelpText(
      'after',
      [
        '',
        'Then, in another terminal:',
        '  npx aethir rent -- node -e "console.log(6*7)"',
        '  npx aethir containers ls',
        '',
        'Watch the checkers catch a false claim within a minute (epochs of 10 s):',
        '  npx aethir devnet --epoch 10 --declare-gpus "1x H100 80GB" --data /tmp/liar',
        '  npx aethir container status --network http://127.0.0.1:7420 --address <its address>',
        '',
      ].join('\n'),
    )
    .action(
      action(async (opts: Record<string, any>) => {
        const config = loadConfig({
          file: opts.config,
          flags: {
            port: opts.port,
            host: opts.host,
            dataDir: opts.data,
            demoContainers: opts.demoContainers,
            containerLocation: opts.location,
            containerPriceAth: opts.price,
            containerApps: opts.apps,
            epochSeconds: opts.epoch,
            unbondingSeconds: opts.unbonding,
            pauseGraceSeconds: opts.pauseGrace,
            containerDeclareGpus: opts.declareGpus,
            containerIsolation: opts.isolation,
            containerLeaseMemoryMiB: opts.leaseMemory,
            logLevel: opts.logLevel,
            ...opts.limit,
          },
        });
        const log = (s: string) => process.stderr.write(`${s}\n`);
        const localProver = await proverOption(opts.prover);
        log(`aethir devnet: starting (data ${config.dataDir})`);
        const node = await startDevnetNode({ config, log, ...(localProver ? { localProver } : {}) });
        const { devnet, url } = node;
        const local = devnet.chain.ledger.container(devnet.localContainerId())!;
        process.stdout.write(
          [
            `aethir devnet is running (chain ${devnet.chain.chainId}, height ${devnet.chain.head.height})`,
            `  API:        ${url}/v1   (OpenAPI at ${url}/openapi.json, metrics at ${url}/metrics)`,
            `  Dashboard:  ${url}/`,
            `  containers: ${devnet.agents.length} (this machine: ${local.name} ${local.id}, ${local.spec.gpus.length} GPUs, ${local.spec.cpu.cores} cores${config.demoContainers ? `; ${config.demoContainers} simulated` : ''})`,
            `  developer key: ${devnet.developer.address} (funded at genesis)`,
            `Rent from another terminal:  npx aethir rent -- node -e "console.log(6*7)"`,
            `Stop with Ctrl-C.`,
            '',
          ].join('\n'),
        );
        await runUntilSignal(
          'aethir devnet (running workloads are stopped, their leases settled)',
          () => node.stop(),
          log,
        );
        if (!devnet) throw new AethirError('INTERNAL', 'unreachable');
      }),
    );
}
