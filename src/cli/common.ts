import { Command, InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { formatAth } from '../core/amount.js';
import { DEFAULT_API, defaultHome, LIMIT_KEYS } from '../core/config.js';
import { AethirError, isAethirError } from '../core/errors.js';
import { isAddress } from '../core/keys.js';
import { ApiClient } from '../sdk/client.js';
import { Keystore } from '../node/keystore.js';

export interface GlobalOpts {
  api?: string;
  json?: boolean;
}

/**
 * `--limit NAME=VALUE` (repeatable): one of the API limits of src/core/config.ts's LIMIT_KEYS
 * (README "API limits"), e.g. --limit apiMaxStreamsPerIp=32; the value is checked with the rest
 * of the configuration.
 */
export function limitOption(): Option {
  return new Option(
    '--limit <name=value...>',
    `an API limit (README "API limits"): ${LIMIT_KEYS.join(', ')}; repeatable`,
  ).argParser((text: string, prev: Record<string, string> | undefined) => {
    const m = /^([A-Za-z]+)=(.+)$/.exec(text);
    if (!m || !(LIMIT_KEYS as readonly string[]).includes(m[1]!))
      throw new InvalidArgumentError(`want NAME=VALUE with NAME one of ${LIMIT_KEYS.join(', ')}`);
    return { ...prev, [m[1]!]: m[2]! };
  });
}

export function apiOption(): Option {
  return new Option('--api <url>', 'node API to talk to (env AETHIR_API)').default(undefined);
}

export function jsonOption(): Option {
  return new Option('--json', 'print machine-readable JSON');
}

export function client(opts: GlobalOpts): ApiClient {
  const url = opts.api ?? process.env.AETHIR_API ?? DEFAULT_API;
  if (!/^https?:\/\/[^\s]+$/.test(url))
    throw new AethirError('INVALID_ARGUMENT', `--api must be an http(s) URL, got "${url}"`);
  return new ApiClient(url);
}

export function userKeystore(): Keystore {
  return new Keystore(join(defaultHome(), 'keys'));
}

/** The address given on the command line, or the address of the named key. */
export function addressOrKey(address: string | undefined, keyName: string): string {
  const addr = address ?? userKeystore().load(keyName).address;
  if (!isAddress(addr))
    throw new AethirError('INVALID_ARGUMENT', `"${addr}" is not an address (ath1 + 40 hex)`);
  return addr;
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2) + '\n');
}

export function fmtAth(units: string | bigint, decimals = 6): string {
  const s = formatAth(BigInt(units), decimals);
  return `${s === '0' && BigInt(units) > 0n ? formatAth(BigInt(units)) : s} ATH`;
}

/** Fixed-width table for humans. */
export function table(rows: Array<Record<string, string | number>>, empty = '(none)'): string {
  if (rows.length === 0) return empty + '\n';
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  return (
    [
      line(cols.map((c) => c.toUpperCase())),
      ...rows.map((r) => line(cols.map((c) => String(r[c] ?? '')))),
    ].join('\n') + '\n'
  );
}

export function short(addr: string): string {
  return addr.length > 16 ? `${addr.slice(0, 10)}…${addr.slice(-4)}` : addr;
}

/** Option parser for whole numbers; a bad value is a usage error (exit 2) naming the option. */
export function parseIntArg(name: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number.`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be from ${min} to ${max}.`);
    return n;
  };
}

/** A decimal number from min to max ("0.8"). */
export function parseNumberArg(name: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError(`${name} must be a number such as 0.8.`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be from ${min} to ${max}.`);
    return n;
  };
}

/** "90s", "15m", "2h", "1d", "2w", "1y" or plain seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+)(s|m|h|d|w|y)?$/.exec(v.trim());
  if (!m)
    throw new AethirError(
      'INVALID_ARGUMENT',
      `duration must look like 90s, 15m, 2h, 1d, 2w or 1y, got "${v}"`,
    );
  const n =
    Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400, y: 365 * 86400 }[(m[2] ?? 's') as 's'];
  if (n < 1) throw new AethirError('INVALID_ARGUMENT', 'duration must be at least 1s');
  return n;
}

/** Runs a command action; typed errors become a one-line message (or JSON) and exit code 1. */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void | number>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    const json = Boolean((cmd?.opts?.() as GlobalOpts | undefined)?.json);
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (e) {
      const err = isAethirError(e)
        ? e
        : new AethirError('INTERNAL', (e as Error)?.message ?? String(e), { cause: e });
      if (json) process.stdout.write(JSON.stringify({ error: err.toJSON() }) + '\n');
      else process.stderr.write(`error [${err.code}]: ${err.message}\n`);
      if (err.code === 'INTERNAL' && process.env.AETHIR_DEBUG) console.error(e);
      process.exitCode = 1;
    }
  };
}

export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'API request log level').choices([
    'fatal',
    'error',
    'warn',
    'info',
    'debug',
    'trace',
    'silent',
  ]);
}

/**
 * Serves until SIGINT or SIGTERM, then runs `stop` once and resolves (a long-running command's
 * last step). `what` names the process in the line it logs.
 */
export function runUntilSignal(
  what: string,
  stop: () => Promise<void>,
  log: (line: string) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log(`${what}: ${sig}, stopping`);
      stop().then(resolve, (e) => {
        log(`error while stopping: ${(e as Error).message}`);
        resolve();
      });
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}
