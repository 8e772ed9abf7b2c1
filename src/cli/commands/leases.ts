import { Command } from 'commander';
import { AethirError } from '../../core/errors.js';
import { DEFAULT_LEASE_SCOPES, LEASE_SCOPES, type LeaseScope } from '../../core/lease-token-wire.js';
import { MAX_LEASE_TOKEN_TTL_MS, signLeaseToken } from '../../core/lease-token.js';
import {
  action,
  apiOption,
  client,
  fmtAth,
  jsonOption,
  parseDuration,
  parseIntArg,
  printJson,
  short,
  table,
  userKeystore,
} from '../common.js';
import { topUpCommand } from './lease-life.js';

export function leasesCommand(): Command {
  const cmd = new Command('leases').description('rentals: escrow, charges, splits');
  cmd
    .command('ls')
    .description(
      'list leases, newest first: state, image, endpoint (-> the port in the lease it forwards to), spent, time left',
    )
    .option('--mine', 'only leases of your key (--key)')
    .option('--key <name>', 'key for --mine', 'developer')
    .option('--status <s>', 'open, paused (escrow ran out: top it up) or closed')
    .option('--limit <n>', 'how many', parseIntArg('--limit', 1, 1000), 50)
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const user = opts.mine ? userKeystore().load(opts.key).address : undefined;
        const list = await client(opts).leases({
          user,
          status: opts.status,
          limit: Number(opts.limit) || 50,
        });
        // What an open lease has cost so far (the ledger charges it at settlements and at the close)
        // and how long it may still run; a closed one: its charge, nothing left.
        const now = Date.now();
        const rows = list.map((l) => {
          const open = l.status === 'open';
          const elapsed = Math.max(0, now - l.openedAt - (l.pausedMs ?? 0));
          const accrued =
            (BigInt(l.pricePerHour) * BigInt(Math.max(1, l.gpus)) * BigInt(elapsed)) / 3_600_000n;
          const spent = open ? (accrued < BigInt(l.escrow) ? accrued : BigInt(l.escrow)) : BigInt(l.charged);
          // until its maximum duration, or sooner its escrow (then it is paused: top it up)
          const end = l.funds?.endsAt ?? l.openedAt + l.maxDurationSec * 1000;
          const out = l.funds?.runsOutAt ?? null;
          const timeLeftMs = open ? Math.max(0, Math.min(end, out ?? end) - now) : 0;
          return { l, spent, timeLeftMs, low: l.funds?.low === true };
        });
        if (opts.json)
          return printJson({
            leases: rows.map(({ l, spent, timeLeftMs, low }) => ({
              ...l,
              spent: spent.toString(),
              timeLeftMs,
              lowFunds: low,
            })),
          });
        const left = (ms: number) =>
          ms >= 3_600_000
            ? `${(ms / 3_600_000).toFixed(1)}h`
            : ms >= 60_000
              ? `${Math.round(ms / 60_000)}m`
              : `${Math.round(ms / 1000)}s`;
        process.stdout.write(
          table(
            rows.map(({ l, spent, timeLeftMs, low }) => ({
              lease: l.id,
              state: l.status,
              container: short(l.container),
              gpus: l.gpus,
              env: (l.workload.envNames ?? []).join(',').slice(0, 30),
              command: (l.workload.command?.join(' ') ?? `app ${l.workload.app}`).slice(0, 40),
              image: (l.workload.image ?? '').slice(0, 40),
              // the endpoint while the lease runs, and the port in the lease it forwards to
              endpoint: l.endpoint
                ? `${l.endpoint}${l.workload.port !== undefined ? ` -> :${l.workload.port}` : ''}`
                : '',
              duration: `${(l.durationMs / 1000).toFixed(1)}s`,
              spent: fmtAth(spent, 9),
              left:
                l.status === 'open'
                  ? `${left(timeLeftMs)}${low ? ' (escrow low: aethir lease topup)' : ''}`
                  : l.status === 'paused'
                    ? `paused${l.funds?.closesAt ? `, closes in ${left(Math.max(0, l.funds.closesAt - now))}` : ''}`
                    : '',
              exit: l.exitCode ?? '',
            })),
            'no leases yet',
          ),
        );
      }),
    );
  return cmd;
}

/** `aethir lease token`: the lease's user hands out its authority over logs and endpoint. */
export function leaseCommand(): Command {
  const cmd = new Command('lease').description('one lease: tokens to its logs and endpoint, top-ups');
  cmd.addCommand(topUpCommand('topup'));
  cmd
    .command('token')
    .description(
      "a token (signed by the lease's user) that opens its logs and endpoint until it expires; give it to whom you share them with",
    )
    .argument('<lease>', 'the lease id')
    .option('--ttl <duration>', 'how long the token is valid, e.g. 15m, 1h, 2d (at most 30d)', '1h')
    .option(
      '--scope <s...>',
      `what it opens: ${LEASE_SCOPES.join(', ')} (exec: shells and commands in the lease; files: cp)`,
      [...DEFAULT_LEASE_SCOPES],
    )
    .option('--key <name>', "the lease's user key (in $AETHIR_HOME/keys)", 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (leaseId: string, opts: Record<string, any>) => {
        const ttlMs = parseDuration(opts.ttl) * 1000;
        if (ttlMs > MAX_LEASE_TOKEN_TTL_MS) throw new AethirError('INVALID_ARGUMENT', '--ttl is at most 30d');
        const scope = opts.scope as string[];
        const bad = scope.find((x) => !(LEASE_SCOPES as readonly string[]).includes(x));
        if (bad)
          throw new AethirError('INVALID_ARGUMENT', `--scope takes ${LEASE_SCOPES.join(', ')}, got "${bad}"`);
        const api = client(opts);
        const key = userKeystore().load(opts.key);
        const lease = await api.leaseView(leaseId);
        if (!lease) throw new AethirError('NOT_FOUND', `no lease ${leaseId}`);
        if (lease.user !== key.address)
          throw new AethirError(
            'UNAUTHORIZED',
            `lease ${leaseId} belongs to ${lease.user}, not to key ${opts.key} (${key.address})`,
          );
        const exp = Date.now() + ttlMs;
        const token = signLeaseToken(key, {
          chainId: await api.chainId(),
          lease: leaseId,
          exp,
          scope: scope as LeaseScope[],
        });
        const endpoint =
          lease.endpoint && !lease.workload.publicEndpoint
            ? `${lease.endpoint}?token=${token}`
            : lease.endpoint;
        if (opts.json) return printJson({ lease: leaseId, token, expires: exp, scope, endpoint });
        process.stdout.write(`${token}\n`);
        if (endpoint && scope.includes('endpoint')) process.stderr.write(`endpoint ${endpoint}\n`);
      }),
    );
  return cmd;
}
