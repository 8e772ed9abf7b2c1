import { Command } from 'commander';
import { parseAth } from '../../core/amount.js';
import { AethirError } from '../../core/errors.js';
import { MAX_RESERVATION_DAYS } from '../../ledger/modules/reservations/payloads.js';
import type { ReservationView } from '../../sdk/client.js';
import { Renter } from '../../sdk/renter.js';
import {
  action,
  apiOption,
  client,
  fmtAth,
  jsonOption,
  parseDuration,
  parseIntArg,
  printJson,
  table,
  userKeystore,
} from '../common.js';

const DAY_S = 86_400;

/** `--for 30d` (or 2w, 1y): whole days only; a reservation books days. */
function parseDays(v: string): number {
  const s = parseDuration(v);
  if (s % DAY_S !== 0)
    throw new AethirError('INVALID_ARGUMENT', `--for books whole days (e.g. 1d, 30d, 2w), got "${v}"`);
  const days = s / DAY_S;
  if (days < 1 || days > MAX_RESERVATION_DAYS)
    throw new AethirError('INVALID_ARGUMENT', `--for is 1 to ${MAX_RESERVATION_DAYS} days, got ${days}`);
  return days;
}

const iso = (t: number | null) => (t === null ? '-' : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z'));

/** `aethir reserve`: GPUs of one host booked for days at its reserved price. */
export function reserveCommand(): Command {
  return new Command('reserve')
    .description(
      'book a host\'s GPUs for whole days at its reserved price (a discount on its on-demand price): paid day by day in advance from escrow, refunded pro rata if the host fails; then run any number of leases on them with "aethir rent --reservation ID"',
    )
    .requiredOption('--gpus <n>', 'GPUs to book on one host', parseIntArg('--gpus', 1, 64))
    .requiredOption('--for <duration>', 'how long, in whole days: 1d, 30d, 2w')
    .option('--gpu-model <model>', 'GPU model, e.g. H100 (a substring of the model name)')
    .option('--region <region>', 'region or region prefix, e.g. "eu" or "us-west"')
    .option('--max-price <ath>', 'highest reserved price you accept, ATH per GPU-hour')
    .option('--container <address>', 'this host instead of the cheapest that fits')
    .option('--key <name>', 'key that pays (in $AETHIR_HOME/keys)', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `\nExamples:\n  npx aethir reserve --gpus 8 --gpu-model H100 --for 30d --region eu\n  npx aethir rent --reservation R1a2b… -- python3 train.py   # as many leases as you like, no extra charge\n  npx aethir reservations ls\n  npx aethir reservations cancel R1a2b…                     # the day begun is kept, the rest refunded`,
    )
    .action(
      action(async (opts: Record<string, any>) => {
        const days = parseDays(opts.for as string);
        const renter = new Renter(client(opts), userKeystore().load(opts.key));
        const say = (s: string) => {
          if (!opts.json) process.stderr.write(`${s}\n`);
        };
        const r = await renter.reserve({
          gpus: opts.gpus as number,
          days,
          ...(opts.gpuModel ? { gpuModel: opts.gpuModel as string } : {}),
          ...(opts.region ? { region: opts.region as string } : {}),
          ...(opts.maxPrice !== undefined ? { maxPricePerHour: parseAth(opts.maxPrice as string) } : {}),
          ...(opts.container ? { container: opts.container as string } : {}),
          onProgress: say,
        });
        if (opts.json)
          return printJson({
            reservation: r.reservation,
            container: r.container.id,
            containerName: r.container.name,
            gpus: opts.gpus,
            days,
            escrow: r.escrow.toString(),
            endsAt: r.endsAt,
          });
        process.stdout.write(`${r.reservation}\n`);
        say(`runs until ${iso(r.endsAt)}; "aethir rent --reservation ${r.reservation} -- CMD" to use it`);
      }),
    );
}

function row(r: ReservationView): Record<string, string | number> {
  return {
    id: r.id,
    container: r.container.slice(0, 14) + '…',
    gpus: `${r.gpusInUse}/${r.gpus}`,
    'ATH/GPU-h': fmtAth(r.pricePerHour).replace(' ATH', ''),
    days: r.days,
    ends: iso(r.endsAt),
    status: r.status,
    paid: fmtAth(r.charged),
  };
}

/** `aethir reservations ls|show|cancel`. */
export function reservationsCommand(): Command {
  const cmd = new Command('reservations').description(
    'your reservations (GPUs booked for days): list, show one, cancel',
  );
  cmd
    .command('ls')
    .description('your reservations, newest first')
    .option('--all', 'closed ones too (default: active only)')
    .option('--key <name>', 'whose (in $AETHIR_HOME/keys)', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const key = userKeystore().load(opts.key);
        const list = await client(opts).reservations({
          user: key.address,
          ...(opts.all ? {} : { status: 'active' }),
        });
        if (opts.json) return printJson({ reservations: list });
        process.stdout.write(table(list.map(row), '(no reservations)'));
      }),
    );
  cmd
    .command('show')
    .description(
      'one reservation: its GPUs and the ones its leases use, period, escrow, what its host was paid',
    )
    .argument('<id>', 'reservation id (R…)')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (id: string, opts: Record<string, any>) => {
        const r = await client(opts).reservation(id);
        if (!r) throw new AethirError('NOT_FOUND', `no reservation ${id}`);
        if (opts.json) return printJson(r);
        const lines = [
          ['reservation', r.id],
          ['status', r.status + (r.closeReason ? ` (${r.closeReason})` : '')],
          ['user', r.user],
          ['container', r.container],
          ['gpus', `${r.gpus} (${r.gpusInUse} in use by its leases; ${r.leases} leases so far)`],
          ['price', `${fmtAth(r.pricePerHour)}/GPU-h, ${fmtAth(r.dailyPrice)}/day`],
          ['period', `${r.days} day${r.days === 1 ? '' : 's'}: ${iso(r.startsAt)} → ${iso(r.endsAt)}`],
          ['escrow', `${fmtAth(r.escrow)} locked; host paid ${fmtAth(r.charged)} so far`],
          ...(r.closedAt !== null ? [['closed', iso(r.closedAt)]] : []),
        ];
        for (const [k, v] of lines) process.stdout.write(`  ${k!.padEnd(12)}${v}\n`);
      }),
    );
  cmd
    .command('cancel')
    .description(
      'end a reservation early: its leases close, the day begun is kept, the days after it refunded',
    )
    .argument('<id>', 'reservation id (R…)')
    .option('--key <name>', 'its user (in $AETHIR_HOME/keys)', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (id: string, opts: Record<string, any>) => {
        const renter = new Renter(client(opts), userKeystore().load(opts.key));
        const r = await renter.cancelReservation(id);
        if (opts.json)
          return printJson({
            reservation: id,
            charged: r.charged.toString(),
            refund: r.refund.toString(),
            closedLeases: r.closedLeases,
          });
        process.stdout.write(
          `cancelled ${id}: paid ${fmtAth(r.charged)}, refunded ${fmtAth(r.refund)} to escrow` +
            (r.closedLeases.length ? `; closed ${r.closedLeases.join(', ')}` : '') +
            '\n',
        );
      }),
    );
  return cmd;
}
