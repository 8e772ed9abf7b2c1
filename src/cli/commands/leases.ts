import { Command } from 'commander';
import {
  action,
  apiOption,
  client,
  fmtAth,
  jsonOption,
  parseIntArg,
  printJson,
  short,
  table,
  userKeystore,
} from '../common.js';

export function leasesCommand(): Command {
  const cmd = new Command('leases').description('rentals: escrow, charges, splits');
  cmd
    .command('ls')
    .description('list leases, newest first')
    .option('--mine', 'only leases of your key (--key)')
    .option('--key <name>', 'key for --mine', 'developer')
    .option('--status <s>', 'open or closed')
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
        if (opts.json) return printJson({ leases: list });
        process.stdout.write(
          table(
            list.map((l) => ({
              lease: l.id,
              status: l.status,
              container: short(l.container),
              gpus: l.gpus,
              command: (l.workload.command?.join(' ') ?? `app ${l.workload.app}`).slice(0, 40),
              duration: `${(l.durationMs / 1000).toFixed(1)}s`,
              charged: fmtAth(l.charged, 9),
              exit: l.exitCode ?? '',
            })),
            'no leases yet',
          ),
        );
      }),
    );
  return cmd;
}
