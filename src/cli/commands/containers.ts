import { Command } from 'commander';
import type { CheckVerdict } from '../../ledger/model.js';
import { action, apiOption, client, fmtAth, jsonOption, printJson, short, table } from '../common.js';

/**
 * The checkers' last word on a container's place (docs/verification.md, "Location"). A container
 * that announces no endpoint is never measured: its place stays its own word, "unverified".
 */
export function locatedWord(location: CheckVerdict | undefined): 'verified' | 'refuted' | 'unverified' {
  if (!location) return 'unverified';
  return location.ok ? 'verified' : 'refuted';
}

export function containersCommand(): Command {
  const cmd = new Command('containers').description('GPU hosts on the network');
  cmd
    .command('ls')
    .description('list containers: spec, location (and whether the checkers verified it), price, status')
    .option('--status <s>', 'only pending, online or offline ones')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const list = await client(opts).containers(opts.status);
        if (opts.json) return printJson({ containers: list });
        process.stdout.write(
          table(
            list.map((c) => ({
              name: c.name + (c.simulated ? ' (simulated)' : ''),
              id: short(c.id),
              status: c.status,
              gpus: c.gpusTotal
                ? `${c.gpusFree}/${c.gpusTotal}× ${c.spec.gpus[0]!.model.replace(/^NVIDIA /, '')}`
                : 'none (CPU)',
              cpu: `${c.spec.cpu.cores} cores`,
              // how its tenants are isolated (docs/security.md); registered before it existed: none
              isolation: c.spec.isolation ?? 'none',
              location: `${c.location.city}, ${c.location.country} (${c.location.region})`,
              located: locatedWord(c.checks.location),
              price: `${fmtAth(c.pricePerHour)}/h`,
              stake: c.staked ? 'ok' : 'below requirement',
              leases: c.openLeases,
            })),
            'no containers yet',
          ),
        );
      }),
    );
  return cmd;
}
