import { Command } from 'commander';
import { parseAth } from '../../core/amount.js';
import { AethirError } from '../../core/errors.js';
import { findCity } from '../../core/gazetteer.js';
import { volumeCost } from '../../ledger/modules/volumes/queries.js';
import type { VolumeView } from '../../sdk/client.js';
import { TxSender } from '../../sdk/tx-sender.js';
import { createVolume, parseVolumeSize, resolveVolume } from '../../sdk/volumes.js';
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

const fmtSize = (mib: number) => (mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`);

/** What a volume has cost so far (billed) and what its escrow still pays for. */
function describe(v: VolumeView): { perHour: string; left: string; paidFor: string } {
  const price = BigInt(v.pricePerGiBHour);
  const escrow = BigInt(v.escrow);
  const perHour = volumeCost(price, v.sizeMiB, 3_600_000);
  const left = escrow - BigInt(v.charged);
  const hours = perHour > 0n ? Number(left / perHour) : Infinity;
  return {
    perHour: fmtAth(perHour),
    left: fmtAth(left),
    paidFor: v.status !== 'active' ? '-' : hours >= 48 ? `${Math.floor(hours / 24)}d` : `${hours}h`,
  };
}

export function volumeCommand(): Command {
  const cmd = new Command('volume').description(
    'persistent volumes: disk on one host that outlives your leases, billed per GiB-hour from escrow',
  );
  cmd
    .command('create')
    .description(
      'create a volume on a host that offers them (the nearest to --near, or --host); its deposit is locked from your escrow',
    )
    .argument('<name>', 'your name for it (a-z, 0-9, _ and -)')
    .requiredOption('--size <size>', 'how big: 512M, 50G, 1T (the host enforces it: writes beyond fail)')
    .option('--near <city>', 'put it on the host nearest to this place, e.g. "Paris, FR"')
    .option('--host <address>', 'put it on this host')
    .option('--max-price <ath>', 'the most you pay, ATH per GiB-hour')
    .option('--deposit <duration>', "how long the deposit pays for, e.g. 24h, 7d (default: the network's)")
    .option('--key <name>', 'the key that owns and pays for it', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExamples:\n  aethir volume create data --size 50G --near "Paris, FR"\n  aethir rent --volume data:/data -- python train.py\n  aethir cp ./dataset data:dataset',
    )
    .action(
      action(async (name: string, opts: Record<string, any>) => {
        if (opts.near && opts.host)
          throw new AethirError('INVALID_ARGUMENT', 'give --near or --host, not both');
        const api = client(opts);
        const key = userKeystore().load(opts.key);
        const near = opts.near ? findCity(opts.near) : undefined;
        const { volume, host } = await createVolume(api, key, {
          name,
          sizeMiB: parseVolumeSize(opts.size),
          ...(opts.host ? { host: opts.host } : {}),
          ...(near ? { near: { lat: near.lat, lon: near.lon } } : {}),
          ...(opts.maxPrice ? { maxPricePerGiBHour: parseAth(opts.maxPrice) } : {}),
          ...(opts.deposit ? { depositSeconds: parseDuration(opts.deposit) } : {}),
          log: (l) => {
            if (!opts.json) process.stderr.write(`${l}\n`);
          },
        });
        if (opts.json)
          return printJson({ volume, host: { id: host.id, name: host.name, location: host.location } });
        const d = describe(volume);
        process.stdout.write(
          `${volume.name}  ${volume.id}  ${fmtSize(volume.sizeMiB)} on ${host.name} (${host.location.city}, ${host.location.country})\n` +
            `  ${d.perHour}/h, deposit ${fmtAth(volume.escrow)} (pays for ${d.paidFor})\n` +
            `  use it: aethir rent --volume ${volume.name}:/data -- CMD   ·   aethir cp ./x ${volume.name}:x\n`,
        );
      }),
    );
  cmd
    .command('ls')
    .description('your volumes, newest first')
    .option('--all', 'also deleted and lost ones')
    .option('--key <name>', 'whose volumes', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const api = client(opts);
        const owner = userKeystore().load(opts.key).address;
        const list = await api.volumeViews({ owner, ...(opts.all ? {} : { status: 'active' }) });
        if (opts.json) return printJson({ volumes: list });
        process.stdout.write(
          table(
            list.map((v) => {
              const d = describe(v);
              return {
                NAME: v.name,
                ID: v.id,
                SIZE: fmtSize(v.sizeMiB),
                HOST: short(v.container),
                STATUS: v.status + (v.hostDownSince !== null && v.status === 'active' ? ' (host down)' : ''),
                'PER HOUR': d.perHour,
                CHARGED: fmtAth(v.charged),
                'PAID FOR': d.paidFor,
              };
            }),
            '(no volumes: aethir volume create NAME --size 50G --near CITY)',
          ),
        );
      }),
    );
  cmd
    .command('inspect')
    .description('one of your volumes: host, size, price, escrow, charge and its split')
    .argument('<name>', 'its name or id')
    .option('--key <name>', 'its owner', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (name: string, opts: Record<string, any>) => {
        const api = client(opts);
        const owner = userKeystore().load(opts.key).address;
        const v = await resolveVolume(api, owner, name);
        if (opts.json) return printJson(v);
        const d = describe(v);
        process.stdout.write(
          [
            `volume   ${v.name} (${v.id}), ${v.status}${v.hostDownSince !== null ? ', host down: not billed' : ''}`,
            `host     ${v.container}`,
            `size     ${fmtSize(v.sizeMiB)}`,
            `price    ${fmtAth(v.pricePerGiBHour)} per GiB-hour = ${d.perHour}/h`,
            `escrow   ${fmtAth(v.escrow)}, charged ${fmtAth(v.charged)} (host ${fmtAth(v.hostShare)}, protocol ${fmtAth(v.protocolShare)}), left ${d.left} (pays for ${d.paidFor})`,
            `billed   ${(v.servedMs / 3_600_000).toFixed(3)} h of its host online`,
          ].join('\n') + '\n',
        );
      }),
    );
  cmd
    .command('delete')
    .description('delete a volume for good: its data is freed on the host, its unused escrow refunded')
    .argument('<name>', 'its name or id')
    .option('--key <name>', 'its owner', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (name: string, opts: Record<string, any>) => {
        const api = client(opts);
        const key = userKeystore().load(opts.key);
        const v = await resolveVolume(api, key.address, name);
        const r = await new TxSender(key, api).send('volume.delete', { volume: v.id });
        if (opts.json) return printJson({ volume: v.id, ...r.result });
        process.stdout.write(
          `deleted ${v.name}: charged ${fmtAth(String(r.result.charged))}, refunded ${fmtAth(String(r.result.refund))} to escrow\n`,
        );
      }),
    );
  cmd
    .command('topup')
    .description("add to a volume's escrow (from your escrow balance) so it keeps being paid for")
    .argument('<name>', 'its name or id')
    .argument('<ath>', 'amount in ATH')
    .option('--key <name>', 'its owner', 'developer')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (name: string, amount: string, opts: Record<string, any>) => {
        const api = client(opts);
        const key = userKeystore().load(opts.key);
        const v = await resolveVolume(api, key.address, name);
        const r = await new TxSender(key, api).send('volume.topup', {
          volume: v.id,
          amount: parseAth(amount),
        });
        if (opts.json) return printJson({ volume: v.id, ...r.result });
        process.stdout.write(`${v.name}: escrow now ${fmtAth(String(r.result.escrow))}\n`);
      }),
    );
  return cmd;
}
