import { Command } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../core/config.js';
import { AethirError } from '../../core/errors.js';
import { isAddress } from '../../core/keys.js';
import { verifyChain, type Block, type VerifyReport } from '../../ledger/block.js';
import { genesisHash, parseGenesis, type Genesis } from '../../ledger/genesis.js';
import { verifyStateProof } from '../../ledger/state.js';
import { SqliteChainStore } from '../../store/sqlite/sqlite-chain-store.js';
import { action, addressOrKey, apiOption, client, jsonOption, printJson } from '../common.js';

/** The replay (verifyChain), with progress on a terminal. */
function replay(
  genesis: Genesis,
  blocks: Iterable<Block>,
  head: number | undefined,
  tty: boolean,
): VerifyReport {
  const report = verifyChain(genesis, blocks, (h) => {
    if (tty && h % 1000 === 0) process.stderr.write(`\rverifying… block ${h}/${head ?? '?'}`);
  });
  if (tty) process.stderr.write('\r\x1b[K');
  return report;
}

function printReport(
  report: VerifyReport,
  opts: Record<string, any>,
  extra: Record<string, unknown>,
  lines: string[] = [],
): number {
  const ms = extra.ms;
  if (opts.json) printJson({ ...report, ...extra });
  else if (report.ok)
    process.stdout.write(
      `ledger OK: ${report.blocks} blocks, ${report.txs} transactions replayed from genesis in ${ms} ms\nheight ${report.height}, state root ${report.root}\n${lines.map((l) => `${l}\n`).join('')}`,
    );
  else process.stdout.write(`ledger INVALID at block ${report.error!.height}: ${report.error!.message}\n`);
  return report.ok ? 0 : 3;
}

const PAGE = 500;

/**
 * `ledger verify --api`: the node's genesis and every block, downloaded over its public API and
 * replayed here by the same verifyChain as `--data`. Every block's state root is then one this
 * machine computed, so the node's account proofs are checked against those roots, not the node's word.
 */
async function verifyOverApi(opts: Record<string, any>, tty: boolean, started: number): Promise<number> {
  const api = client({ api: opts.api });
  const genesis = parseGenesis(await api.genesis());
  const gHash = genesisHash(genesis);
  if (opts.genesisHash !== undefined && opts.genesisHash !== gHash)
    throw new AethirError(
      'STORE_CORRUPT',
      `the node's genesis hash is ${gHash}, not the trusted ${opts.genesisHash}`,
    );
  const accounts: string[] = opts.account ?? genesis.allocations.slice(0, 5).map((a) => a.address);
  for (const a of accounts)
    if (!isAddress(a)) throw new AethirError('INVALID_ARGUMENT', `--account ${a} is not an address`);
  // Proofs first: the blocks are then fetched up to the newest height a proof is at.
  const proofs = await Promise.all(
    accounts.map(async (address) => ({
      address,
      proof: await api.proof(address).catch(notFoundAsUndefined),
    })),
  );
  const head = Math.max((await api.status()).height, ...proofs.map((p) => p.proof?.height ?? 0));
  const blocks: Block[] = [];
  while (blocks.length <= head) {
    const page = await api.blocksFrom(blocks.length, Math.min(PAGE, head + 1 - blocks.length));
    if (page.length === 0) break;
    blocks.push(...page);
    if (tty) process.stderr.write(`\rdownloading… block ${blocks.length - 1}/${head}`);
  }
  if (tty) process.stderr.write('\r\x1b[K');
  const report = replay(genesis, blocks, head, tty);
  const checks = proofs.map(({ address, proof }) => {
    if (!proof) return { address, ok: true, note: 'not in the state (never held funds)' };
    const ours = report.ok ? blocks[proof.height]?.root : undefined;
    const ok = ours !== undefined && proof.root === ours && verifyStateProof({ ...proof, root: ours });
    return { address, ok, height: proof.height, root: ours ?? null, value: proof.value };
  });
  const proofsOk = checks.every((c) => c.ok);
  const lines = [
    `genesis ${gHash} (from ${opts.api})`,
    ...checks.map((c) =>
      'note' in c
        ? `proof  ${c.address}: ${c.note}`
        : `proof  ${c.address} at height ${c.height}: ${c.ok ? 'verifies against the root computed here' : 'DOES NOT MATCH the root computed here'}`,
    ),
  ];
  const code = printReport(
    report,
    opts,
    { api: opts.api, genesisHash: gHash, proofs: checks, ms: Date.now() - started },
    lines,
  );
  if (code !== 0) return code;
  if (!proofsOk && !opts.json)
    process.stdout.write('the node answers proofs that its own blocks do not support\n');
  return proofsOk ? 0 : 3;
}

const notFoundAsUndefined = (e: unknown) => {
  if (e instanceof AethirError && e.code === 'NOT_FOUND') return undefined;
  throw e;
};

export function ledgerCommand(): Command {
  const cmd = new Command('ledger').description('audit the ledger');
  cmd
    .command('verify')
    .description(
      'replay the whole log from genesis and check every signature, nonce, rule, state root and block link',
    )
    .option('--data <dir>', 'data directory of the node (default $AETHIR_HOME/devnet)')
    .option(
      '--api <url>',
      "audit any node instead, over its public API (no database): download its genesis and blocks, replay them here, then check the node's account proofs against the roots computed here",
    )
    .option(
      '--account <address...>',
      "with --api: accounts whose proofs (aethir ledger proof) to check (default: the genesis's first 5 allocations)",
    )
    .option(
      '--genesis-hash <hex>',
      'with --api: the genesis hash you trust; a node that serves another fails',
    )
    .addOption(jsonOption())
    .addHelpText(
      'after',
      "\nExamples:\n  aethir ledger verify                          # this machine's devnet\n  aethir ledger verify --api http://node:7420   # any node, from anywhere\n",
    )
    .action(
      action(async (opts: Record<string, any>) => {
        const tty = process.stderr.isTTY && !opts.json;
        const started = Date.now();
        if (opts.api) return verifyOverApi(opts, tty, started);
        const config = loadConfig({ flags: { dataDir: opts.data } });
        const file = join(config.dataDir, 'ledger.sqlite');
        if (!existsSync(file))
          throw new AethirError(
            'NOT_FOUND',
            `no ledger at ${file} (start one with "aethir devnet" or pass --data)`,
          );
        const store = new SqliteChainStore(file);
        try {
          const genesis = store.readGenesis();
          if (!genesis) throw new AethirError('STORE_CORRUPT', `${file} holds no genesis`);
          const head = store.head();
          const report = replay(genesis, store.blocks(), head?.height, tty);
          return printReport(report, opts, { file, ms: Date.now() - started });
        } finally {
          store.close();
        }
      }),
    );
  cmd
    .command('proof')
    .description(
      'a Merkle proof of an account under the current state root, for anyone to check without the database',
    )
    .argument('[address]', 'an ath1… address (default: your key)')
    .option('--key <name>', 'key whose account to prove when no address is given', 'developer')
    .option('--out <file>', 'also write the proof (JSON) to this file')
    .addOption(apiOption())
    .addOption(jsonOption())
    .action(
      action(async (address: string | undefined, opts: Record<string, any>) => {
        const addr = addressOrKey(address, opts.key);
        const p = await client(opts).proof(addr);
        if (!verifyStateProof(p))
          throw new AethirError('STORE_CORRUPT', 'the node returned a proof that does not verify');
        if (opts.out) writeFileSync(opts.out, JSON.stringify(p, null, 2) + '\n');
        if (opts.json) return printJson(p);
        process.stdout.write(
          [
            `account     ${addr}`,
            `value       ${p.value}`,
            `state root  ${p.root} (height ${p.height})`,
            `proof       ${p.proof.length} steps; verifies: yes`,
            opts.out
              ? `written to  ${opts.out}  (check with: aethir ledger check-proof ${opts.out} --root ${p.root})`
              : '',
            '',
          ]
            .filter((l, i, a) => l !== '' || i === a.length - 1)
            .join('\n'),
        );
      }),
    );
  cmd
    .command('check-proof')
    .description(
      'check a proof file offline: the value hashes up to the root (give --root from a source you trust)',
    )
    .argument('<file>', 'a proof written by "aethir ledger proof --out"')
    .option('--root <hex>', 'the state root to check against (default: the one in the file)')
    .addOption(jsonOption())
    .action(
      action(async (file: string, opts: Record<string, any>) => {
        let p: any;
        try {
          p = JSON.parse(readFileSync(file, 'utf8'));
        } catch (e) {
          throw new AethirError(
            'INVALID_ARGUMENT',
            `cannot read a proof from ${file}: ${(e as Error).message}`,
          );
        }
        if (typeof p?.key !== 'string' || typeof p?.value !== 'string' || !Array.isArray(p?.proof))
          throw new AethirError('INVALID_ARGUMENT', `${file} is not a proof (needs key, value, proof)`);
        const root = opts.root ?? p.root;
        if (!/^[0-9a-f]{64}$/.test(String(root)))
          throw new AethirError('INVALID_ARGUMENT', '--root must be 64 hex characters');
        const ok = verifyStateProof({ key: p.key, value: p.value, proof: p.proof, root });
        if (opts.json) printJson({ ok, key: p.key, root });
        else
          process.stdout.write(
            ok ? `proof OK: ${p.key} = ${p.value} under root ${root}\n` : `proof INVALID for root ${root}\n`,
          );
        return ok ? 0 : 3;
      }),
    );
  return cmd;
}
