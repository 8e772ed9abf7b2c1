import { Command, Option } from 'commander';
import { parseClauses, queryFieldsHelp } from '../../indexer/query.js';
import type { Strategy } from '../../indexer/request.js';
import { action, apiOption, client, fmtAth, jsonOption, parseIntArg, printJson, table } from '../common.js';

/** `--sort` names: how offers (and `rent`) rank. */
export const SORTS: Record<string, Strategy> = {
  price: 'lowest-fee',
  experience: 'best-experience',
  balanced: 'balanced',
};

/**
 * The words of a query as the shell split them, back into one query string: a word whose value
 * has spaces, quotes or operator characters (`near="Paris, FR"`, which the shell hands over as
 * `near=Paris, FR`) is quoted again, so the parser's columns are those of what the user typed,
 * give or take quotes. A value that starts with an operator (`price<<2`) stays as typed: the
 * parser points at it.
 */
export function queryOf(words: readonly string[]): string {
  return words
    .map((w) => {
      // a word that is a query by itself (the whole query in quotes, as a shell needs for < and >)
      try {
        parseClauses(w);
        return w;
      } catch {
        // one clause whose value the shell unquoted: see below
      }
      const m = /^([A-Za-z0-9_]+)(>=|<=|!=|=|<|>)(.*)$/s.exec(w);
      // A value that starts with an operator is a doubled one (`price<<2`): left for the parser to point at.
      if (!m || !/[\s"<>=!]/.test(m[3]!) || /^["<>=!]/.test(m[3]!)) return w;
      return `${m[1]}${m[2]}"${m[3]!.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    })
    .join(' ');
}

/** The query language's fields, for `--help`. */
export function queryHelp(): string {
  const rows = queryFieldsHelp();
  const w = Math.max(...rows.map((r) => r.field.length));
  const o = Math.max(...rows.map((r) => r.ops.length));
  return [
    'Query: clauses "field op value" (ops: = != < <= > >=), e.g. \'gpu_ram>=24 num_gpus>=2 region=eu price<2\'',
    '(quote it for the shell: < and > redirect), and a value with spaces inside: near="Paris, FR". Fields:',
    ...rows.map((r) => `  ${r.field.padEnd(w)}  ${r.ops.padEnd(o)}  ${r.help}`),
  ].join('\n');
}

export function offersCommand(): Command {
  return new Command('offers')
    .description(
      'what you can rent now, best first: price, place, GPUs, VRAM, reputation, sandbox (reserves nothing)',
    )
    .argument('[query...]', 'clauses "field op value" (see below); none: every CPU offer')
    .addOption(
      new Option('--sort <by>', 'ranking: price (lowest fee), experience (latency and quality), balanced')
        .choices(Object.keys(SORTS))
        .default('price'),
    )
    .option('--limit <n>', 'how many to list', parseIntArg('--limit', 1, 200), 20)
    .addOption(apiOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `\n${queryHelp()}\n\nExamples:\n  aethir offers 'gpu_ram>=24 num_gpus>=2 region=eu price<2' --sort price\n  aethir offers 'num_gpus>=1 near="Paris, FR" latency<=30' --sort experience --json\n\nThe first offer is what "aethir rent --query '…'" with the same --strategy gets, if no one takes it first.`,
    )
    .action(
      action(async (words: string[], opts: Record<string, any>) => {
        const res = await client(opts).offers(queryOf(words), {
          strategy: SORTS[opts.sort as string],
          limit: opts.limit,
        });
        if (opts.json) return printJson(res);
        const latency = res.offers.some((o) => o.score.latencyMs !== null);
        process.stdout.write(
          table(
            res.offers.map((o) => {
              const c = o.container;
              const models = [...new Set(c.spec.gpus.map((g) => g.model.replace(/^NVIDIA (GeForce )?/, '')))];
              const vram = c.spec.gpus.length ? Math.min(...c.spec.gpus.map((g) => g.memoryMiB)) : 0;
              return {
                container: `${c.name}${c.simulated ? '*' : ''}`,
                place: `${c.location.city}, ${c.location.country} (${c.location.region})`,
                gpus: c.gpusTotal ? `${c.gpusTotal}x ${models.join('/')}` : 'cpu',
                vram: vram ? `${Math.round(vram / 1024)} GiB` : '-',
                free: o.gpusFree,
                'price/h': fmtAth(c.pricePerHour, 4),
                reputation: o.score.reputation.toFixed(2),
                sandbox: c.spec.isolation ?? 'none',
                // cached images (the images work adds them to the container record)
                images: ((c as { images?: string[] }).images ?? []).length || '-',
                ...(latency
                  ? { rtt: o.score.latencyMs === null ? '-' : `${Math.round(o.score.latencyMs)} ms` }
                  : {}),
              };
            }),
            'no offers',
          ),
        );
        process.stderr.write(
          `${res.offers.length} of ${res.total} matching, by ${res.strategy}${res.offers.some((o) => o.container.simulated) ? '; * simulated host' : ''}\n`,
        );
      }),
    );
}
