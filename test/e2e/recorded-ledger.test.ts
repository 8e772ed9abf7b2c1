import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli, tempHome } from './helpers.js';

/**
 * History must replay: a ledger recorded with the code of 2026-12-06, shared by the workplace
 * (../shared/data from the repo root), with what `aethir ledger verify --json` answered then
 * (verify.json). Today's code must replay it block by block to the same height and state root;
 * a rule change that rewrites the past fails here.
 */
const DIR = fileURLToPath(new URL('../../../shared/data/ledgers/devnet-2026-12-06/', import.meta.url));
const present = existsSync(join(DIR, 'ledger.sqlite')) && existsSync(join(DIR, 'verify.json'));
const title = present
  ? `the ledger recorded on 2026-12-06 (${DIR}) replays to the height and root it was recorded with`
  : `the ledger recorded on 2026-12-06 replays: SKIPPED, ${DIR} not found (recorded ledgers live in ../shared/data, only in the Aethir workplace)`;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe.skipIf(!present)(title, () => {
  const home = tempHome('aethir-recorded-');

  it('`aethir ledger verify --data <copy> --json` answers what verify.json recorded', async () => {
    const recorded = JSON.parse(readFileSync(join(DIR, 'verify.json'), 'utf8')) as Record<string, unknown>;
    expect(recorded.ok).toBe(true);
    expect(Object.keys(recorded).sort()).toEqual(['blocks', 'height', 'ok', 'root', 'txs']);
    // a copy: verify must not need (or get) write access to the recorded ledger
    const data = join(home, 'data');
    cpSync(DIR, data, { recursive: true });
    const file = join(data, 'ledger.sqlite');
    const before = sha256(file);
    expect(before).toBe(sha256(join(DIR, 'ledger.sqlite')));

    const r = await cli(
      ['ledger', 'verify', '--data', data, '--json'],
      { AETHIR_HOME: home },
      { timeoutMs: 90_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const answer = JSON.parse(r.stdout) as Record<string, unknown>;
    // everything verify.json states, exactly: ok, height, blocks, txs and the state root
    for (const [k, v] of Object.entries(recorded)) expect(answer[k], k).toEqual(v);
    expect(answer.height).toBe(recorded.height);
    expect(answer.root).toBe(recorded.root);
    expect(answer.blocks).toBe((recorded.height as number) + 1);
    expect(answer.file).toBe(file);
    expect(answer.error).toBeUndefined();
    // and replaying changed nothing in the copy
    expect(sha256(file)).toBe(before);
  });
});
