import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, ath } from '../../src/core/index.js';
import { signTx, type TxType } from '../../src/ledger/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { cli, startInProcessDevnet, tempHome } from './helpers.js';

const DAY = 86_400_000;
const WEEK = 7 * DAY;
const YEAR4 = 4 * 365 * DAY; // lockMaxMs

/**
 * The CLI's money paths that move or free tokens, against a devnet under a simulated clock, with
 * exact amounts: a lock extended, topped up and withdrawn (`aethir lock`), checker rewards listed
 * and claimed early at the 75% forfeit (`aethir vesting ls|claim --fast`), and an operational
 * change ratified by the council (`aethir dao ratify`). Each refused step changes nothing.
 */
describe('money through the CLI: lock, vesting, ratify', () => {
  let node: RunningNode;
  const clock = new ManualClock(Date.UTC(2026, 2, 2));
  const home = tempHome();
  let env: Record<string, string>;
  const ledger = () => node.devnet.chain.ledger;
  const run = (args: string[], key?: string) => cli([...args, ...(key ? ['--key', key] : [])], env);
  const json = async (args: string[], key?: string) => {
    const r = await run([...args, '--json'], key);
    if (r.code !== 0) throw new Error(`aethir ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  /** A refused command: its exit code, its error, and nothing changed in the ledger's state. */
  const refused = async (args: string[], key: string | undefined, error: RegExp) => {
    const root = node.devnet.chain.ledger.state.root();
    const r = await run(args, key);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(error);
    expect(node.devnet.chain.ledger.state.root()).toBe(root);
  };
  const newKey = async (name: string, amount: bigint): Promise<string> => {
    expect((await cli(['keys', 'new', name], env)).code).toBe(0);
    const k = JSON.parse((await cli(['keys', 'ls', '--json'], env)).stdout).keys.find(
      (x: { name: string }) => x.name === name,
    );
    send('transfer', { to: k.address, amount });
    return k.address as string;
  };
  const send = (type: TxType, payload: Record<string, unknown>) => {
    const d = node.devnet;
    return d.chain.submit(
      signTx(
        d.developer,
        d.chain.chainId,
        type,
        ledger().account(d.developer.address).nonce,
        payload as never,
      ),
    );
  };

  beforeAll(async () => {
    // one-day epochs (checker rewards are paid per day at an epoch close); checks only when asked
    node = await startInProcessDevnet(home, { epochSeconds: 86_400, checkIntervalMs: 3_600_000 }, clock);
    env = { AETHIR_HOME: home, AETHIR_API: node.url };
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('aethir vesting ls | claim --fast: a checker claims its day-0 reward after 30 days, forfeiting exactly 75% to the checker pool', async () => {
    const d = node.devnet;
    // First in this file: the clock is still on day 0. The three checkers check the devnet's container on day 0; a day later the epoch closes
    // and the day's checker pool vests to them (180 days, or 30 with the forfeit).
    await d.runChecks();
    clock.advance(DAY + 1_000);
    await d.closeDueEpochs();
    const paid = d.checkers
      .map((c) => c.service.address)
      .map((address, i) => ({
        i,
        address,
        entries: ledger()
          .vesting(address)
          .filter((e) => e.kind === 'checker'),
      }))
      .find((c) => c.entries.length > 0);
    expect(paid, 'a checker with a day-0 reward').toBeDefined();
    const { address, entries } = paid!;
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    expect(entry.unlockAt - entry.earnedAt).toBe(180 * DAY);
    // the checker's operator has its key where the CLI looks for keys
    const name = `checker-${paid!.i + 1}`;
    copyFileSync(join(home, 'devnet', 'keys', `${name}.json`), join(home, 'keys', `${name}.json`));

    const ls = await json(['vesting', 'ls'], name);
    expect(ls.address).toBe(address);
    expect(ls.vesting).toEqual({
      locked: entry.amount.toString(),
      claimable: '0',
      entries: [
        {
          kind: 'checker',
          amount: entry.amount.toString(),
          earnedAt: entry.earnedAt,
          unlockAt: entry.unlockAt,
        },
      ],
    });
    const text = await run(['vesting', 'ls'], name);
    expect(text.stdout).toContain(new Date(entry.unlockAt).toISOString());

    // nothing before it unlocks, and not --fast before 30 days
    await refused(['vesting', 'claim'], name, /CONFLICT.*nothing is claimable yet/);
    clock.set(entry.earnedAt + 30 * DAY - 1);
    await refused(['vesting', 'claim', '--fast'], name, /CONFLICT.*nothing is claimable yet/);

    clock.set(entry.earnedAt + 30 * DAY);
    const balance = ledger().account(address).balance;
    const pool = ledger().checkerPool().balance;
    const forfeit = (entry.amount * 7_500n) / 10_000n;
    const claim = await json(['vesting', 'claim', '--fast'], name);
    expect(claim).toMatchObject({
      claimed: (entry.amount - forfeit).toString(),
      forfeited: forfeit.toString(),
    });
    expect(ledger().account(address).balance - balance).toBe(entry.amount - forfeit);
    expect(ledger().checkerPool().balance - pool).toBe(forfeit);
    expect(
      ledger()
        .vesting(address)
        .filter((e) => e.kind === 'checker'),
    ).toEqual([]);
    expect((await json(['vesting', 'ls'], name)).vesting).toEqual({
      locked: '0',
      claimable: '0',
      entries: [],
    });
    expect(ledger().totalHeld()).toBe(ledger().chain.supply);
  });

  it('aethir lock: a new lock, extended with --for, topped up, refused to withdraw early, withdrawn whole once it ends', async () => {
    const me = await newKey('locker', ath(5_000));
    const balance = () => ledger().account(me).balance;
    await refused(['lock', '1000'], 'locker', /INVALID_ARGUMENT.*a new lock needs --for/);
    await refused(['lock', '1000', '--for', '1d'], 'locker', /INVALID_TRANSACTION.*at least 7 days/);

    const t0 = clock.now();
    const a = await json(['lock', '1000', '--for', '1w'], 'locker');
    expect(a).toMatchObject({ amount: ath(1_000).toString(), end: t0 + WEEK });
    expect(BigInt(a.weight)).toBe((ath(1_000) * BigInt(WEEK)) / BigInt(YEAR4));
    expect(balance()).toBe(ath(4_000));

    // extended: the same amount, a later end, more weight; nothing more leaves the balance. The
    // CLI counts --for from the head block's time (GET /v1/status), here a day before the clock.
    clock.advance(DAY);
    const head = node.devnet.chain.head.time;
    expect(head).toBe(t0);
    const t1 = head + 26 * WEEK;
    const b = await json(['lock', '--for', '26w'], 'locker');
    expect(b).toMatchObject({ amount: ath(1_000).toString(), end: t1 });
    expect(BigInt(b.weight)).toBe((ath(1_000) * BigInt(t1 - clock.now())) / BigInt(YEAR4));
    expect(balance()).toBe(ath(4_000));
    // a shorter --for never shortens it
    const c = await json(['lock', '--for', '2w'], 'locker');
    expect(c.end).toBe(t1);
    // topped up: the end stays
    const d = await json(['lock', '500'], 'locker');
    expect(d).toMatchObject({ amount: ath(1_500).toString(), end: t1 });
    expect(balance()).toBe(ath(3_500));

    await refused(['lock', '--withdraw'], 'locker', /CONFLICT.*the lock ends at/);
    await refused(['lock', '5', '--withdraw'], 'locker', /INVALID_ARGUMENT.*--withdraw takes no amount/);
    clock.advance(26 * WEEK);
    const shown = await json(['lock'], 'locker');
    expect(shown).toMatchObject({ amount: ath(1_500).toString(), expired: true, weight: '0' });
    // an expired lock is withdrawn before anything is locked again
    await refused(['lock', '10', '--for', '1w'], 'locker', /CONFLICT.*withdraw it with dao.unlock/);

    const w = await run(['lock', '--withdraw'], 'locker');
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toBe('withdrew 1500 ATH\n');
    expect(balance()).toBe(ath(5_000));
    expect(ledger().lock(me)!.amount).toBe(0n);
    expect((await run(['lock'], 'locker')).stdout).toMatch(/^nothing locked/);
    await refused(['lock', '--withdraw'], 'locker', /NOT_FOUND.*nothing is locked/);
  });

  it('aethir dao ratify: an operational change waits for the council, a stranger cannot ratify, the member can once, then it executes', async () => {
    const member = await newKey('council', ath(10));
    const lock = await json(['lock', '100000', '--for', '4y']);
    expect(BigInt(lock.weight)).toBeGreaterThan(ath(99_000));
    const pass = async (id: string) => {
      await json(['dao', 'vote', id, 'for']);
      clock.advance(3 * DAY);
    };

    // the council: one seat, filled by vote (not operational: no ratification)
    const seat = await json(['dao', 'propose', '--title', 'A council', '--council', `checkers=${member}`]);
    expect(seat.operational).toBe(false);
    await pass(String(seat.proposal));
    clock.advance(2 * DAY);
    expect((await json(['dao', 'execute', String(seat.proposal)])).status).toBe('executed');
    expect(ledger().dao.council.checkers).toBe(member);
    expect(ledger().councilMajority()).toBe(1);

    // an operational change: the ban of a lying checker from 30 days to 60
    const ban = 60 * DAY;
    const p = await json(['dao', 'propose', '--title', 'Longer bans', '--set', `checkerBanMs=${ban}`]);
    expect(p.operational).toBe(true);
    const id = String(p.proposal);
    await refused(['dao', 'ratify', id], 'council', /CONFLICT.*the vote is still running/);
    await pass(id);
    expect((await json(['dao', 'status', id])).phase).toBe('awaiting-ratification');
    clock.advance(2 * DAY);
    // past its timelock, still not executable without the council
    await refused(['dao', 'execute', id], undefined, /CONFLICT.*awaiting-ratification/);
    await refused(['dao', 'ratify', id], undefined, /UNAUTHORIZED.*only council members ratify/);
    await refused(['dao', 'ratify', String(seat.proposal)], 'council', /CONFLICT.*needs no ratification/);

    const r = await run(['dao', 'ratify', id], 'council');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`ratified proposal ${id} (1 of 1)\n`);
    expect(ledger().proposal(Number(id))!.ratifiedBy).toEqual([member]);
    await refused(['dao', 'ratify', id], 'council', /CONFLICT.*already ratified by you/);
    expect((await json(['dao', 'status', id])).phase).toBe('executable');
    const before = ledger().params.version;
    expect((await json(['dao', 'execute', id])).status).toBe('executed');
    expect(ledger().params).toMatchObject({ checkerBanMs: ban, version: before + 1 });
  });
});
