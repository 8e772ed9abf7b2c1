import { InvalidArgumentError, type Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AethirError, ath } from '../../../src/core/index.js';
import { action, client, fmtAth, parseDuration, parseIntArg, short, table } from '../../../src/cli/common.js';

function errorOf(fn: () => unknown): AethirError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AethirError);
    return e as AethirError;
  }
  throw new Error('expected an AethirError');
}

describe('parseDuration', () => {
  it.each([
    ['90s', 90],
    ['15m', 900],
    ['2h', 7200],
    ['1d', 86_400],
    ['2w', 14 * 86_400],
    ['4y', 4 * 365 * 86_400],
    ['45', 45],
    ['1', 1],
    [' 2h ', 7200],
    ['007m', 420],
  ])('%j -> %i seconds', (text, secs) => {
    expect(parseDuration(text)).toBe(secs);
  });

  it.each(['', 'h', '1.5h', '-5', '5x', '2H', '1h30m', '1 h', 'ten'])('rejects %j', (text) => {
    const e = errorOf(() => parseDuration(text));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain('90s, 15m, 2h, 1d, 2w or 1y');
  });

  it.each(['0', '0s', '0d'])('rejects the zero duration %j', (text) => {
    const e = errorOf(() => parseDuration(text));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain('at least 1s');
  });
});

describe('parseIntArg', () => {
  const gpus = parseIntArg('--gpus', 0, 64);

  it.each([
    ['0', 0],
    ['64', 64],
    ['8', 8],
    ['08', 8],
  ])('%j -> %i', (text, n) => {
    expect(gpus(text)).toBe(n);
  });

  // A bad value is a usage error: commander's InvalidArgumentError, which it reports naming the
  // option and turns into exit code 2 (see main.test.ts).
  function usageError(fn: () => unknown): InvalidArgumentError {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).code).toBe('commander.invalidArgument');
      return e as InvalidArgumentError;
    }
    throw new Error('expected an InvalidArgumentError');
  }

  it.each(['-1', '1.0', '1e2', 'abc', '', ' 5', '0x10'])('rejects %j as not a whole number', (text) => {
    expect(usageError(() => gpus(text)).message).toMatch(/^--gpus must be a whole number/);
  });

  it.each(['65', '1000', '99999999999999999999'])('rejects %j as out of range', (text) => {
    expect(usageError(() => gpus(text)).message).toMatch(/^--gpus must be from 0 to 64/);
  });

  it('honours a lower bound above zero', () => {
    const port = parseIntArg('--port', 1, 65535);
    expect(port('1')).toBe(1);
    expect(port('65535')).toBe(65535);
    expect(usageError(() => port('0')).message).toMatch(/^--port must be from 1 to 65535/);
  });
});

describe('table', () => {
  it('prints the empty message for no rows', () => {
    expect(table([])).toBe('(none)\n');
    expect(table([], 'no containers yet')).toBe('no containers yet\n');
  });

  it('upper-cases headers, pads columns to their widest cell and trims line ends', () => {
    const out = table([
      { name: 'alpha', gpus: 8, price: '1 ATH/h' },
      { name: 'b', gpus: 16, price: '0.25 ATH/h' },
    ]);
    expect(out).toBe(
      ['NAME   GPUS  PRICE', 'alpha  8     1 ATH/h', 'b      16    0.25 ATH/h', ''].join('\n'),
    );
  });

  it('takes its columns from the first row; missing cells are blank', () => {
    const out = table([{ a: 'x', b: 'y' }, { a: 'longer' }, { b: 'z', c: 'ignored' }]);
    expect(out).toBe(['A       B', 'x       y', 'longer', '        z', ''].join('\n'));
  });
});

describe('small helpers', () => {
  it('short() abbreviates long addresses only', () => {
    const addr = 'ath1' + '0123456789'.repeat(4);
    expect(short(addr)).toBe('ath1012345…6789');
    expect(short('ath1short')).toBe('ath1short');
  });

  it('fmtAth() prints ATH with up to the given decimals, never rounding a charge to zero', () => {
    expect(fmtAth(ath(12))).toBe('12 ATH');
    expect(fmtAth(ath('1.5').toString())).toBe('1.5 ATH');
    expect(fmtAth(ath('0.1234567'))).toBe('0.123456 ATH');
    expect(fmtAth(1n)).toBe('0.000000000000000001 ATH');
    expect(fmtAth(0n)).toBe('0 ATH');
  });

  it('client() accepts http(s) URLs only', () => {
    expect(client({ api: 'http://127.0.0.1:7420' }).base).toBe('http://127.0.0.1:7420');
    expect(errorOf(() => client({ api: 'ftp://example.com' })).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => client({ api: 'not a url' })).code).toBe('INVALID_ARGUMENT');
  });
});

describe('action', () => {
  let written: { out: string; err: string };
  let restore: () => void;
  let exitCode: typeof process.exitCode;

  beforeEach(() => {
    written = { out: '', err: '' };
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => ((written.out += s), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => ((written.err += s), true)) as typeof process.stderr.write;
    exitCode = process.exitCode;
    restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
      process.exitCode = exitCode;
    };
  });

  afterEach(() => restore());

  const cmd = (json: boolean) => ({ opts: () => ({ json }) }) as unknown as Command;

  it('a returned number becomes the exit code', async () => {
    await action(async (_cmd: Command) => 3)(cmd(false));
    expect(process.exitCode).toBe(3);
  });

  it('a typed error prints "error [CODE]: message" on stderr and exits 1', async () => {
    await action(async (_cmd: Command) => {
      throw new AethirError('NOT_FOUND', 'no lease L1');
    })(cmd(false));
    expect(process.exitCode).toBe(1);
    expect(written.err).toBe('error [NOT_FOUND]: no lease L1\n');
    expect(written.out).toBe('');
  });

  it('with --json the error is printed as JSON on stdout', async () => {
    await action(async (_cmd: Command) => {
      throw new AethirError('NO_MATCH', 'nothing fits', { details: { containers: 0 } });
    })(cmd(true));
    expect(process.exitCode).toBe(1);
    expect(JSON.parse(written.out)).toEqual({
      error: { code: 'NO_MATCH', message: 'nothing fits', retryable: true, details: { containers: 0 } },
    });
  });

  it('an unexpected error is reported as INTERNAL', async () => {
    await action(async (_cmd: Command) => {
      throw new Error('kaboom');
    })(cmd(false));
    expect(process.exitCode).toBe(1);
    expect(written.err).toBe('error [INTERNAL]: kaboom\n');
  });
});
