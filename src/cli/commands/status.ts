import { Command } from 'commander';
import { action, apiOption, client, fmtAth, jsonOption, printJson } from '../common.js';

export function statusCommand(): Command {
  return new Command('status')
    .description('the network at a glance: chain, height, state root, containers, leases')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const api = client(opts);
        const s = await api.status();
        if (opts.json) return printJson({ api: api.base, ...s });
        process.stdout.write(
          [
            `node        ${api.base}`,
            `chain       ${s.chainId}`,
            `height      ${s.height}  (block ${s.blockHash.slice(0, 16)}…, ${new Date(s.time).toISOString()})`,
            `state root  ${s.root}`,
            `containers  ${s.containers.online} online of ${s.containers.total}`,
            `leases      ${s.leases.open} open, ${s.leases.total} in all`,
            `checkers    ${s.checkers.length}`,
            `treasury    ${fmtAth(s.treasury, 6)}`,
            `rewards     pool ${fmtAth(s.economics.rewardPool, 0)}, checker pool ${fmtAth(s.economics.checkerPool, 0)}`,
            `epochs      ${s.economics.lastEpoch + 1} closed, next ends ${new Date(s.economics.nextEpochEnd).toISOString()}`,
            `staking     coefficient ${(s.economics.coefficientBps / 10_000).toFixed(4)}`,
            '',
          ].join('\n'),
        );
      }),
    );
}
