import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultHome, loadConfig } from '../../core/config.js';
import { AethirError } from '../../core/errors.js';
import { genesisHash, parseGenesis } from '../../ledger/genesis.js';
import { CHECK_KINDS, type CheckKind } from '../../ledger/model.js';
import { parseDeclaredGpus } from '../../container/declared.js';
import { ClusterNode, defaultNodeName, parseChoices, parseRoles } from '../../node/cluster-node.js';
import { snapshotFromWire, type Snapshot } from '../../node/replica.js';
import { JetStreamLog } from '../../store/nats/jetstream-log.js';
import {
  action,
  jsonOption,
  limitOption,
  logLevelOption,
  parseIntArg,
  printJson,
  runUntilSignal,
} from '../common.js';

const NATS_HELP = 'NATS server with JetStream, e.g. nats://10.0.0.5:4222 (env AETHIR_NATS)';

function natsUrl(opt: string | undefined): string {
  const url = opt ?? process.env.AETHIR_NATS;
  if (!url) throw new AethirError('INVALID_ARGUMENT', '--nats is required (or set AETHIR_NATS)');
  return url;
}

async function loadSnapshot(from: string): Promise<Snapshot> {
  let text: string;
  if (/^https?:\/\//.test(from)) {
    const url = from.replace(/\/+$/, '') + (from.includes('/v1/snapshot') ? '' : '/v1/snapshot');
    let res: Response;
    try {
      res = await fetch(url);
    } catch (e) {
      throw new AethirError('UNAVAILABLE', `cannot fetch a snapshot from ${url}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (!res.ok) throw new AethirError('UNAVAILABLE', `${url} answered ${res.status}: ${await res.text()}`);
    text = await res.text();
  } else {
    try {
      text = readFileSync(from, 'utf8');
    } catch (e) {
      throw new AethirError('INVALID_ARGUMENT', `cannot read snapshot ${from}: ${(e as Error).message}`);
    }
  }
  return snapshotFromWire(text);
}

export function nodeCommand(): Command {
  return new Command('node')
    .description(
      'run this machine as part of a scale-out network: any mix of roles over a shared NATS JetStream log',
    )
    .requiredOption(
      '--roles <list>',
      'comma-separated roles: api (HTTP API + dashboard), indexer (matching), checker (liveness), container (serve workloads)',
    )
    .option('--nats <url>', NATS_HELP)
    .option(
      '--postgres <url>',
      "keep this node's state in PostgreSQL (schema aethir_<name>) instead of SQLite",
    )
    .option('--name <name>', "this node's unique name in the network (default: the host name)")
    .option('--chain <id>', 'chain id of the network to join (default aethir-devnet)')
    .option('--data <dir>', 'data directory (state, keys, workloads); default $AETHIR_HOME/nodes/<name>')
    .option(
      '--key <name>',
      'key the checker/container roles sign with, in <data>/keys (created if missing)',
      'node',
    )
    .option('--port <n>', 'API port for the api role (0 picks a free one)', parseIntArg('--port', 0, 65535))
    .option('--host <addr>', 'address the API listens on')
    .option(
      '--location <city>',
      'where this machine is, e.g. "Frankfurt, DE" (container role: its claimed place; checker role: the origin of its RTT measurements)',
    )
    .option('--price <ath>', 'container role: ATH per hour (per GPU-hour on GPU hosts)')
    .addOption(
      new Option(
        '--isolation <kind>',
        'container role: how workloads are isolated: sandbox (each lease its own uid, namespaces, cgroup limits and private network; refused where the machine cannot, naming what is missing), none (plain processes; registered, so users can avoid this host)',
      )
        .choices(['sandbox', 'none', 'auto'])
        .default('sandbox'),
    )
    .option(
      '--declare-gpus <spec>',
      'container role: declare GPUs probing cannot see, e.g. "2x RTX 4090 24GB" (marked as declared; checkers test it)',
    )
    .option(
      '--checks <list>',
      'checker role: the checks it runs, comma-separated, of liveness, capacity, location, qos (default all)',
    )
    .addOption(
      new Option(
        '--location-network <kind>',
        "checker role: what the location check measures: probe (real TCP handshakes to each container's endpoint) or model (SIMULATED latency model, for tests)",
      )
        .choices(['probe', 'model'])
        .default('probe'),
    )
    .option(
      '--probe-url <url>',
      "checker role: the address other checkers time round trips to, announced in this checker's signed beacon (default: this node's API, or its probe port)",
    )
    .option(
      '--probe-port <n>',
      "checker role without the api role: the port that answers other checkers' handshakes (default: any free one)",
      parseIntArg('--probe-port', 0, 65535),
    )
    .option(
      '--snapshot-from <url|file>',
      'start from a snapshot (an API node URL or a file) instead of replaying the log',
    )
    .option('--config <file>', 'JSON config file (defaults -> file -> AETHIR_* env -> flags)')
    .addOption(limitOption())
    .addOption(logLevelOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  aethir network init --nats nats://127.0.0.1:4222 --genesis genesis.json',
        '  aethir node --roles api,indexer --nats nats://127.0.0.1:4222 --name api-1 --port 7420',
        '  aethir node --roles checker --nats nats://127.0.0.1:4222 --name checker-1 --key checker',
        '  aethir node --roles container --nats nats://127.0.0.1:4222 --name gpu-1 --location "Frankfurt, DE"',
        '',
        'Each node on one machine needs its own --name (and --data).',
      ].join('\n'),
    )
    .action(
      action(async (opts: Record<string, any>) => {
        const roles = parseRoles(opts.roles);
        const checks = opts.checks ? parseChecks(opts.checks) : undefined;
        const nats = natsUrl(opts.nats);
        const name = (opts.name as string | undefined) ?? defaultNodeName();
        const config = loadConfig({
          file: opts.config,
          flags: {
            port: opts.port,
            host: opts.host,
            chainId: opts.chain,
            dataDir: opts.data ?? join(defaultHome(), 'nodes', name),
            containerLocation: opts.location,
            containerPriceAth: opts.price,
            containerIsolation: opts.isolation,
            logLevel: opts.logLevel,
            ...opts.limit,
          },
        });
        const log = (s: string) => process.stderr.write(`${s}\n`);
        const snapshot = opts.snapshotFrom ? await loadSnapshot(opts.snapshotFrom) : undefined;
        log(
          `aethir node ${name}: roles ${roles.join(',')}, NATS ${nats}, state in ${opts.postgres ? 'PostgreSQL' : config.dataDir}`,
        );
        const node = await ClusterNode.start({
          config,
          roles,
          nats,
          postgres: opts.postgres,
          name,
          keyName: opts.key,
          declaredGpus: opts.declareGpus ? parseDeclaredGpus(opts.declareGpus) : undefined,
          ...(checks ? { checks } : {}),
          locationNetwork: opts.locationNetwork as 'probe' | 'model',
          ...(opts.probeUrl !== undefined ? { probeUrl: opts.probeUrl as string } : {}),
          ...(opts.probePort !== undefined ? { probePort: opts.probePort as number } : {}),
          snapshot,
          log,
        });
        const info = {
          name,
          roles,
          chainId: node.replica.chainId,
          height: node.replica.head.height,
          root: node.replica.head.root,
          address: node.key?.address ?? null,
          api: node.url,
          probe: node.probeUrl,
          pid: process.pid,
        };
        if (opts.json) printJson({ ready: info });
        else
          process.stdout.write(
            [
              `aethir node ${name} is running (chain ${info.chainId}, height ${info.height})`,
              ...(node.url ? [`  API:       ${node.url}/v1   dashboard: ${node.url}/`] : []),
              ...(info.address ? [`  key:       ${info.address}`] : []),
              ...(info.probe ? [`  probe:     ${info.probe} (other checkers time round trips to it)`] : []),
              `Stop with Ctrl-C.`,
              '',
            ].join('\n'),
          );
        await runUntilSignal(`aethir node ${name}`, () => node.stop(), log);
      }),
    );
}

export function networkCommand(): Command {
  const cmd = new Command('network').description(
    'create and inspect a scale-out network (its JetStream log)',
  );
  cmd
    .command('init')
    .description("create the network's log on NATS JetStream and write its genesis (idempotent)")
    .requiredOption(
      '--genesis <file>',
      'genesis JSON: chainId, time, allocations, pools, checkers, governance',
    )
    .option('--nats <url>', NATS_HELP)
    .option(
      '--replicas <n>',
      'copies of the log on a NATS cluster (1, 3 or 5)',
      parseIntArg('--replicas', 1, 5),
      1,
    )
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        let raw: unknown;
        try {
          raw = JSON.parse(readFileSync(opts.genesis, 'utf8'));
        } catch (e) {
          throw new AethirError('INVALID_ARGUMENT', `cannot read ${opts.genesis}: ${(e as Error).message}`);
        }
        const genesis = parseGenesis(raw);
        const log = await JetStreamLog.connect({
          servers: natsUrl(opts.nats),
          chainId: genesis.chainId,
          replicas: opts.replicas,
        });
        try {
          const { created } = await log.init(genesis);
          const out = {
            chainId: genesis.chainId,
            stream: log.stream,
            genesis: genesisHash(genesis),
            created,
          };
          if (opts.json) printJson(out);
          else
            process.stdout.write(
              `${created ? 'created' : 'already there'}: chain ${out.chainId}, log ${out.stream}, genesis ${out.genesis.slice(0, 16)}…\n`,
            );
        } finally {
          await log.close();
        }
      }),
    );
  cmd
    .command('status')
    .description('the log of a network: its length and genesis')
    .option('--nats <url>', NATS_HELP)
    .option('--chain <id>', 'chain id', 'aethir-devnet')
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const log = await JetStreamLog.connect({
          servers: natsUrl(opts.nats),
          chainId: opts.chain,
          create: false,
        });
        try {
          const genesis = await log.readGenesis();
          if (!genesis)
            throw new AethirError(
              'NOT_FOUND',
              `chain ${opts.chain} has no log yet: run "aethir network init"`,
            );
          const out = {
            chainId: opts.chain,
            stream: log.stream,
            height: (await log.lastSeq()) - 1,
            genesis: genesisHash(genesis),
          };
          if (opts.json) printJson(out);
          else process.stdout.write(`chain ${out.chainId}: log ${out.stream}, height ${out.height}\n`);
        } finally {
          await log.close();
        }
      }),
    );
  return cmd;
}

/** `--checks liveness,qos` as check kinds; anything else is a clear error. */
export function parseChecks(text: string): CheckKind[] {
  return parseChoices(text, CHECK_KINDS, '--checks', 'check');
}
