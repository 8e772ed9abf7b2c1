import { Command } from 'commander';
import { parseAth } from '../../core/amount.js';
import { AethirError } from '../../core/errors.js';
import { isAddress } from '../../core/keys.js';
import { CONSTITUENCIES, type Choice, type Constituency } from '../../ledger/model.js';
import type { PayloadInput } from '../../ledger/tx.js';
import { TxSender } from '../../sdk/tx-sender.js';
import { action, apiOption, client, fmtAth, jsonOption, printJson, table, userKeystore } from '../common.js';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function parseProposalId(v: string): number {
  if (!/^\d+$/.test(v))
    throw new AethirError('INVALID_ARGUMENT', `a proposal id is a whole number, got "${v}"`);
  return Number(v);
}

/** "feeHostBps=8500" → ['feeHostBps', 8500]; JSON values (numbers, arrays, objects) are parsed, the rest stays a string. */
function parseSetting(s: string): [string, unknown] {
  const i = s.indexOf('=');
  if (i <= 0) throw new AethirError('INVALID_ARGUMENT', `--set takes NAME=VALUE, got "${s}"`);
  const raw = s.slice(i + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a plain string (e.g. units of a bigint parameter)
  }
  return [s.slice(0, i), value];
}

function duration(ms: number): string {
  if (ms <= 0) return 'now';
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  return h >= 48 ? `${Math.floor(h / 24)}d ${h % 24}h` : `${h}h ${m}m`;
}

function describe(p: Record<string, any>): string {
  const lines = [
    `proposal ${p.id}: ${p.title}`,
    `  phase        ${p.phase}${p.operational ? ' (operational: needs council ratification)' : ''}`,
    `  tally        for ${fmtAth(p.tally.for, 2)}, against ${fmtAth(p.tally.against, 2)}, abstain ${fmtAth(p.tally.abstain, 2)}`,
    `  quorum       ${fmtAth(p.turnout, 2)} voted of ${fmtAth(p.quorum, 2)} needed (${fmtAth(p.totalWeight, 2)} total weight at creation)`,
    `  voting       ${p.votingLeftMs > 0 ? `ends in ${duration(p.votingLeftMs)}` : 'ended'}; executable ${p.executableInMs > 0 ? `in ${duration(p.executableInMs)}` : 'after the vote'}`,
  ];
  if (p.operational)
    lines.push(`  ratified     ${p.ratifiedBy.length} of ${p.ratificationsNeeded} council members`);
  for (const c of p.changes)
    lines.push(`  change       ${c.parameter}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`);
  for (const a of p.actions) {
    if (a.kind === 'treasury') lines.push(`  spend        ${fmtAth(a.amount)} from the treasury to ${a.to}`);
    if (a.kind === 'council') lines.push(`  council      ${a.constituency} seat → ${a.member ?? '(vacant)'}`);
  }
  if (p.outcome) lines.push(`  outcome      ${p.outcome}`);
  return lines.join('\n') + '\n';
}

export function daoCommand(): Command {
  const cmd = new Command('dao').description('proposals and votes that govern the network');
  const common = (c: Command) =>
    c.option('--key <name>', 'your key', 'developer').addOption(apiOption()).addOption(jsonOption());

  common(
    cmd
      .command('propose')
      .description(
        'propose parameter changes, a treasury spend or a council seat (needs a minimum voting weight)',
      )
      .requiredOption('--title <text>', 'what and why, in a line')
      .option('--set <name=value>', 'change a parameter, e.g. feeHostBps=8500 (repeatable)', collect)
      .option('--spend <address=ath>', 'pay from the treasury (repeatable)', collect)
      .option(
        '--council <constituency=address>',
        `fill a council seat (${CONSTITUENCIES.join(', ')}; address or "none")`,
        collect,
      )
      .addHelpText(
        'after',
        '\nExample:\n  aethir dao propose --title "85/15 fee split" --set feeHostBps=8500',
      ),
  ).action(
    action(async (opts: Record<string, any>) => {
      const actions: PayloadInput<'dao.propose'>['actions'] = [];
      const sets = (opts.set as string[] | undefined) ?? [];
      if (sets.length) actions.push({ kind: 'params', changes: Object.fromEntries(sets.map(parseSetting)) });
      for (const s of (opts.spend as string[] | undefined) ?? []) {
        const [to, amount] = s.split('=');
        if (!to || !isAddress(to) || !amount)
          throw new AethirError('INVALID_ARGUMENT', `--spend takes ADDRESS=ATH, got "${s}"`);
        actions.push({ kind: 'treasury', to, amount: parseAth(amount) });
      }
      for (const s of (opts.council as string[] | undefined) ?? []) {
        const [constituency, member] = s.split('=');
        if (
          !constituency ||
          !(CONSTITUENCIES as readonly string[]).includes(constituency) ||
          !member ||
          (member !== 'none' && !isAddress(member))
        )
          throw new AethirError(
            'INVALID_ARGUMENT',
            `--council takes CONSTITUENCY=ADDRESS|none (${CONSTITUENCIES.join(', ')}), got "${s}"`,
          );
        actions.push({
          kind: 'council',
          constituency: constituency as Constituency,
          member: member === 'none' ? null : member,
        });
      }
      if (actions.length === 0)
        throw new AethirError('INVALID_ARGUMENT', 'propose something: --set, --spend or --council');
      const r = await new TxSender(userKeystore().load(opts.key), client(opts)).send('dao.propose', {
        title: opts.title,
        actions,
      });
      if (opts.json) return printJson({ tx: r.id, ...r.result });
      process.stdout.write(
        `proposal ${r.result.proposal} is open for votes until ${new Date(Number(r.result.votingEnds)).toISOString()}\n`,
      );
    }),
  );

  common(
    cmd
      .command('vote')
      .description('vote with the weight you had when the proposal was made (voting again changes your vote)')
      .argument('<id>', 'proposal id')
      .argument('<choice>', 'for, against or abstain'),
  ).action(
    action(async (id: string, choice: string, opts: Record<string, any>) => {
      if (!['for', 'against', 'abstain'].includes(choice))
        throw new AethirError('INVALID_ARGUMENT', `choice must be for, against or abstain, got "${choice}"`);
      const r = await new TxSender(userKeystore().load(opts.key), client(opts)).send('dao.vote', {
        proposal: parseProposalId(id),
        choice: choice as Choice,
      });
      if (opts.json) return printJson({ tx: r.id, ...r.result });
      process.stdout.write(
        `voted ${choice} on proposal ${id} with ${fmtAth(String(r.result.weight))} of weight${r.result.changed ? ' (vote changed)' : ''}\n`,
      );
    }),
  );

  for (const [verb, type, help] of [
    [
      'execute',
      'dao.execute',
      'execute a passed proposal after its timelock (anyone may); settles a failed vote as rejected',
    ],
    ['ratify', 'dao.ratify', 'ratify a passed operational proposal (council members)'],
  ] as const) {
    common(cmd.command(verb).description(help).argument('<id>', 'proposal id')).action(
      action(async (id: string, opts: Record<string, any>) => {
        const r = await new TxSender(userKeystore().load(opts.key), client(opts)).send(type, {
          proposal: parseProposalId(id),
        });
        if (opts.json) return printJson({ tx: r.id, ...r.result });
        process.stdout.write(
          verb === 'execute'
            ? `proposal ${id}: ${r.result.status}\n`
            : `ratified proposal ${id} (${r.result.ratifications} of ${r.result.needed})\n`,
        );
      }),
    );
  }

  cmd
    .command('status')
    .description('a proposal: tally, quorum, time left and what it will change')
    .argument('<id>', 'proposal id')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (id: string, opts: Record<string, any>) => {
        const p = await client(opts).proposal(parseProposalId(id));
        if (opts.json) return printJson(p);
        process.stdout.write(describe(p));
      }),
    );

  cmd
    .command('ls')
    .description('proposals, newest first')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (opts: Record<string, any>) => {
        const list = await client(opts).proposals();
        if (opts.json) return printJson({ proposals: list });
        process.stdout.write(
          table(
            list.map((p) => ({
              id: p.id,
              title: String(p.title).slice(0, 40),
              phase: p.phase,
              for: fmtAth(p.tally.for, 0),
              against: fmtAth(p.tally.against, 0),
              quorum: `${fmtAth(p.turnout, 0)}/${fmtAth(p.quorum, 0)}`,
            })),
            'no proposals yet: aethir dao propose --title "..." --set feeHostBps=8500',
          ),
        );
      }),
    );
  return cmd;
}
