import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AethirError,
  DEFAULT_PORT,
  defaultConfig,
  defaultHome,
  loadConfig,
  type Config,
} from '../../../src/core/index.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aethir-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function configFile(content: unknown): string {
  const f = path.join(tmp, `config-${n++}.json`);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

const HOME = path.join(tmp, 'home');
const baseEnv = { AETHIR_HOME: HOME } as NodeJS.ProcessEnv;

function configError(fn: () => unknown): AethirError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AethirError);
    return e as AethirError;
  }
  return expect.unreachable('expected CONFIG_INVALID') as never;
}

describe('loadConfig', () => {
  it('defaults only (env without overrides)', () => {
    const c = loadConfig({ env: baseEnv });
    expect(c).toEqual({ ...defaultConfig(baseEnv), home: path.resolve(HOME) });
    expect(c.port).toBe(DEFAULT_PORT);
    expect(c.chainId).toBe('aethir-devnet');
    expect(c.dataDir).toBe(path.join(path.resolve(HOME), 'devnet'));
    expect(defaultHome(baseEnv)).toBe(path.resolve(HOME));
    expect(defaultHome({})).toBe(path.join(os.homedir(), '.aethir'));
  });

  it('applies defaults -> file -> env -> flags, each layer overriding the one before', () => {
    const file = configFile({ port: 1111, host: '0.0.0.0', chainId: 'from-file', logLevel: 'info' });
    const onlyFile = loadConfig({ env: baseEnv, file });
    expect(onlyFile).toMatchObject({ port: 1111, host: '0.0.0.0', chainId: 'from-file', logLevel: 'info' });
    expect(onlyFile.heartbeatIntervalMs).toBe(defaultConfig(baseEnv).heartbeatIntervalMs);

    const env = { ...baseEnv, AETHIR_PORT: '2222', AETHIR_CHAIN_ID: 'from-env' };
    const fileEnv = loadConfig({ env, file });
    expect(fileEnv).toMatchObject({ port: 2222, host: '0.0.0.0', chainId: 'from-env', logLevel: 'info' });

    const all = loadConfig({ env, file, flags: { port: 3333, logLevel: 'debug', chainId: undefined } });
    // flags win; an undefined flag does not override; untouched layers shine through
    expect(all).toMatchObject({ port: 3333, host: '0.0.0.0', chainId: 'from-env', logLevel: 'debug' });
  });

  it('reads the file named by AETHIR_CONFIG when no file is passed', () => {
    const file = configFile({ demoContainers: 7 });
    expect(loadConfig({ env: { ...baseEnv, AETHIR_CONFIG: file } }).demoContainers).toBe(7);
    // an explicit file wins over AETHIR_CONFIG
    const other = configFile({ demoContainers: 9 });
    expect(loadConfig({ env: { ...baseEnv, AETHIR_CONFIG: file }, file: other }).demoContainers).toBe(9);
  });

  it('coerces numeric env values, ignores empty env values and resolves paths', () => {
    const c = loadConfig({
      env: {
        ...baseEnv,
        AETHIR_HEARTBEAT_MS: '500',
        AETHIR_OFFLINE_AFTER_MS: '',
        AETHIR_DATA: 'relative/data',
        AETHIR_HOST: 'example.org',
        AETHIR_DEMO_CONTAINERS: '3',
        AETHIR_CHECK_INTERVAL_MS: '250',
        AETHIR_LOG_LEVEL: 'silent',
      },
    });
    expect(c.heartbeatIntervalMs).toBe(500);
    expect(c.offlineAfterMs).toBe(defaultConfig(baseEnv).offlineAfterMs);
    expect(c.dataDir).toBe(path.resolve('relative/data'));
    expect(c).toMatchObject({
      host: 'example.org',
      demoContainers: 3,
      checkIntervalMs: 250,
      logLevel: 'silent',
    });
  });

  it.each<[string, () => Config, string]>([
    ['port from a flag', () => loadConfig({ env: baseEnv, flags: { port: 70000 } }), 'port'],
    ['port from env', () => loadConfig({ env: { ...baseEnv, AETHIR_PORT: 'abc' } }), 'port'],
    [
      'chain id from a file',
      () => loadConfig({ env: baseEnv, file: configFile({ chainId: 'Bad Id!' }) }),
      'chainId',
    ],
    ['log level', () => loadConfig({ env: baseEnv, flags: { logLevel: 'loud' } }), 'logLevel'],
    [
      'heartbeat too small',
      () => loadConfig({ env: { ...baseEnv, AETHIR_HEARTBEAT_MS: '5' } }),
      'heartbeatIntervalMs',
    ],
    [
      'price with 19 decimals',
      () => loadConfig({ env: baseEnv, flags: { containerPriceAth: '0.1234567890123456789' } }),
      'containerPriceAth',
    ],
    [
      'negative price',
      () => loadConfig({ env: baseEnv, flags: { containerPriceAth: '-1' } }),
      'containerPriceAth',
    ],
    [
      'fractional demo count',
      () => loadConfig({ env: baseEnv, flags: { demoContainers: 1.5 } }),
      'demoContainers',
    ],
    ['empty host', () => loadConfig({ env: baseEnv, flags: { host: '' } }), 'host'],
    ['unknown key in the file', () => loadConfig({ env: baseEnv, file: configFile({ prot: 1 }) }), 'prot'],
  ])('rejects an invalid %s with CONFIG_INVALID naming the field', (_what, fn, field) => {
    const e = configError(fn);
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain(field);
    expect(e.httpStatus).toBe(400);
    expect(e.retryable).toBe(false);
  });

  it('lists every issue in details', () => {
    const e = configError(() => loadConfig({ env: baseEnv, flags: { port: -1, logLevel: 'nope' } }));
    const issues = (e.details as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
    expect(issues).toEqual(expect.arrayContaining(['port', 'logLevel']));
  });

  it('rejects a missing, non-JSON or non-object config file', () => {
    for (const file of [
      path.join(tmp, 'does-not-exist.json'),
      configFile('{ not json'),
      configFile('42'),
      configFile('null'),
    ]) {
      const e = configError(() => loadConfig({ env: baseEnv, file }));
      expect(e.code).toBe('CONFIG_INVALID');
      expect(e.message).toContain(file);
    }
  });

  it('API limits: safe defaults, then file, AETHIR_* environment and flags, each checked', () => {
    const d = loadConfig({ env: baseEnv });
    expect([d.apiRequestTimeoutMs, d.apiHeadersTimeoutMs, d.apiMaxJsonDepth, d.apiMaxStreamsPerIp]).toEqual([
      30_000, 10_000, 64, 16,
    ]);
    expect([d.apiRateLimitPerMinute, d.apiMatchRateLimitPerMinute, d.maxReservationsPerAccount]).toEqual([
      6000, 120, 3,
    ]);
    const c = loadConfig({
      env: { ...baseEnv, AETHIR_API_MAX_STREAMS_PER_IP: '40', AETHIR_MAX_RESERVATIONS_PER_ACCOUNT: '5' },
      file: configFile('{"apiRequestTimeoutMs": 5000, "apiMaxStreamsPerIp": 2}'),
      flags: { apiMaxJsonDepth: '32' },
    });
    expect([
      c.apiRequestTimeoutMs,
      c.apiMaxStreamsPerIp,
      c.maxReservationsPerAccount,
      c.apiMaxJsonDepth,
    ]).toEqual([5000, 40, 5, 32]);
    const e = configError(() => loadConfig({ env: { ...baseEnv, AETHIR_API_REQUEST_TIMEOUT_MS: '10' } }));
    expect(e.message).toBe(
      'invalid configuration: apiRequestTimeoutMs: Too small: expected number to be >=1000',
    );
  });
});
