import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envOf } from '../../../../src/cli/commands/rent.js';

describe('rent --env / --env-file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aethir-envfile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads a dotenv file (comments, quotes, export-less) and --env wins over it', () => {
    const f = file('a.env', '# a comment\nHF_TOKEN=hf_1\nQUOTED="two words"\nSINGLE=\'x=y\'\nEMPTY=\n');
    expect(envOf(f, ['HF_TOKEN=hf_2', 'EXTRA=a=b'])).toEqual({
      HF_TOKEN: 'hf_2',
      QUOTED: 'two words',
      SINGLE: 'x=y',
      EMPTY: '',
      EXTRA: 'a=b',
    });
  });

  it('refuses a pair without =, a name that is not a variable name, and a file it cannot read', () => {
    expect(() => envOf(undefined, ['NOVALUE'])).toThrow('--env takes KEY=VALUE, got "NOVALUE"');
    expect(() => envOf(undefined, ['BAD-NAME=1'])).toThrow(
      '"BAD-NAME" is not a variable name (letters, digits, _)',
    );
    expect(() => envOf(join(dir, 'missing.env'), [])).toThrow(
      /^cannot read --env-file .*missing\.env: ENOENT/,
    );
  });
});
