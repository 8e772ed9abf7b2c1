import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AethirError } from '../../../src/core/index.js';
import { parseManifest } from '../../../src/container/apps/manifest.js';
import { Payloads } from '../../../src/ledger/index.js';

/** The error parseManifest throws for `input`. */
function problem(input: unknown): AethirError {
  try {
    parseManifest(input);
  } catch (e) {
    expect(e).toBeInstanceOf(AethirError);
    expect((e as AethirError).code).toBe('INVALID_ARGUMENT');
    return e as AethirError;
  }
  return expect.unreachable('expected an invalid manifest') as never;
}

const ok = { name: 'demo', version: '1.0.0' };

describe('parseManifest: accepted forms', () => {
  it('the short form becomes one service "main"; a string command runs with sh -c', () => {
    expect(
      parseManifest({
        ...ok,
        description: 'a CPU demo',
        install: 'echo model-weights > weights.txt',
        run: 'cat "$AETHIR_APP_DIR/weights.txt"',
      }),
    ).toEqual({
      ...ok,
      description: 'a CPU demo',
      services: {
        main: {
          install: ['echo model-weights > weights.txt'],
          command: ['sh', '-c', 'cat "$AETHIR_APP_DIR/weights.txt"'],
          gpus: 0,
        },
      },
    });
  });

  it('the compose-like form: argv lists, gpus, env (map or KEY=VALUE list), ports, regions', () => {
    const m = parseManifest(
      JSON.stringify({
        name: 'llm-chat',
        version: '0.3.1-beta.2',
        regions: ['eu', 'us-west'],
        services: {
          api: {
            install: ['python3 -m venv venv', 'venv/bin/pip install vllm'],
            command: ['venv/bin/python', '-m', 'vllm.entrypoints.api_server'],
            gpus: 2,
            environment: ['MODEL=llama-3-8b', 'EMPTY='],
            ports: [8000, '9090', '8080:8001'],
          },
        },
      }),
    );
    expect(m).toEqual({
      name: 'llm-chat',
      version: '0.3.1-beta.2',
      regions: ['eu', 'us-west'],
      services: {
        api: {
          install: ['python3 -m venv venv', 'venv/bin/pip install vllm'],
          command: ['venv/bin/python', '-m', 'vllm.entrypoints.api_server'],
          gpus: 2,
          env: { MODEL: 'llama-3-8b', EMPTY: '' },
          ports: [8000, 9090, 8001],
        },
      },
    });
    expect(
      parseManifest({ ...ok, services: { w: { command: 'x', env: { N: 1, B: true } } } }).services.w!.env,
    ).toEqual({ N: '1', B: 'true' });
  });

  it('what it returns is what app.publish takes', () => {
    const m = parseManifest({ ...ok, run: ['node', 'server.js'], gpus: 1 });
    expect(Payloads['app.publish'].safeParse({ name: 'demo', version: '1.0.0', manifest: m }).success).toBe(
      true,
    );
  });

  it('every example in docs/apps.md is valid', () => {
    const md = readFileSync(fileURLToPath(new URL('../../../docs/apps.md', import.meta.url)), 'utf8');
    const examples = [...md.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => parseManifest(m[1]!));
    expect(examples.map((m) => m.name)).toEqual(['demo', 'llm-chat', 'sd-web']);
  });

  it('accepts a byte-order mark and surrounding blank lines', () => {
    expect(parseManifest(`\uFEFF\n ${JSON.stringify({ ...ok, run: 'true' })}\n`).name).toBe('demo');
  });
});

describe('parseManifest: every problem has a path and a clear message', () => {
  it.each<[string, unknown, string]>([
    ['not JSON', '{"name": ', '(root): not valid JSON'],
    ['YAML', 'name: demo\nversion: 1.0.0\n', '(root): this looks like YAML: write the manifest as JSON'],
    ['empty text', '  \n', '(root): the manifest is empty'],
    ['not an object', [1, 2], '(root): must be a JSON object'],
    ['null', null, '(root): must be a JSON object'],
    ['nothing to run', { ...ok }, 'services: required (or run, for the short form)'],
    ['no name', { version: '1.0.0', run: 'x' }, 'name: required'],
    ['no name nor version', {}, 'name: required; version: required; services: required'],
    [
      'a bad name',
      { ...ok, name: 'My App', run: 'x' },
      'name: must be 2 to 41 characters of lower-case letters',
    ],
    ['a bad version', { ...ok, version: 'latest', run: 'x' }, 'version: must be a version like 1.0.0'],
    [
      'both forms',
      { ...ok, run: 'x', services: {} },
      '(root): give either services (the compose-like form) or run',
    ],
    ['no command', { ...ok, services: { web: { gpus: 1 } } }, 'services.web.command: required'],
    ['an empty command', { ...ok, run: [] }, 'run: must not be an empty list'],
    ['a blank command', { ...ok, run: '' }, 'run: must not be empty'],
    ['a numeric command', { ...ok, run: 5 }, 'run: must be a command line (run with sh -c) or a list'],
    ['bad install', { ...ok, run: 'x', install: [''] }, 'install.0: must not be empty'],
    ['bad install type', { ...ok, run: 'x', install: 3 }, 'install: must be a shell command line or a list'],
    [
      'gpus: all',
      { ...ok, services: { w: { command: 'x', gpus: 'all' } } },
      'services.w.gpus: must be a whole number of GPUs from 0 to 64',
    ],
    ['too many gpus', { ...ok, run: 'x', gpus: 65 }, 'gpus: must be a whole number of GPUs from 0 to 64'],
    ['fractional gpus', { ...ok, run: 'x', gpus: 0.5 }, 'gpus: must be a whole number of GPUs from 0 to 64'],
    [
      'bad env',
      { ...ok, run: 'x', env: 'A=1' },
      'env: must be a map of names to values, or a list of KEY=VALUE',
    ],
    ['bad env name', { ...ok, run: 'x', env: { '1A': 'x' } }, 'env.1A: must be an environment variable name'],
    ['bad env list item', { ...ok, run: 'x', env: ['NOVALUE'] }, 'env.0: must look like KEY=VALUE'],
    [
      'env and environment',
      { ...ok, services: { w: { command: 'x', env: {}, environment: {} } } },
      'services.w: give env or environment, not both',
    ],
    ['a bad port', { ...ok, run: 'x', ports: [70000] }, 'ports.0: must be from 1 to 65535'],
    ['a bad port string', { ...ok, run: 'x', ports: ['http'] }, 'ports.0: must be a port such as 8000'],
    ['ports not a list', { ...ok, run: 'x', ports: 8000 }, 'ports: must be a list of ports'],
    [
      'a bad region',
      { ...ok, run: 'x', regions: ['Europe'] },
      'regions.0: must be a region such as eu or eu-west',
    ],
    ['no services', { ...ok, services: {} }, 'services: an app needs one service'],
    [
      'services not a map',
      { ...ok, services: ['web'] },
      'services: must be a map of service names to services',
    ],
    [
      'two services',
      { ...ok, services: { web: { command: 'x' }, worker: { command: 'y' } } },
      'services: an app has exactly one service for now (got web, worker); multi-service apps are planned',
    ],
    [
      'a bad service name',
      { ...ok, services: { 'My Web': { command: 'x' } } },
      'services.My Web: a service name is',
    ],
    [
      'an image',
      { ...ok, services: { web: { image: 'nginx', command: 'x' } } },
      'services.web.image: unknown field: not supported: apps install on the host',
    ],
    [
      'command in the short form',
      { ...ok, command: 'x' },
      'run: required; command: unknown field: the short form calls it run',
    ],
    [
      'run in a service',
      { ...ok, services: { web: { run: 'x' } } },
      'services.web.command: required; services.web.run: unknown field: a service calls it command',
    ],
    ['an unknown field', { ...ok, run: 'x', colour: 'blue' }, 'colour: unknown field'],
    [
      'a long description',
      { ...ok, run: 'x', description: 'd'.repeat(501) },
      'description: must be at most 500 characters',
    ],
    [
      'too big',
      { ...ok, run: 'x', install: Array.from({ length: 5 }, () => 'y'.repeat(4000)) },
      '(root): the manifest is 20',
    ],
  ])('%s', (_what, input, message) => {
    const e = problem(input);
    expect(e.message).toContain(`invalid app manifest: ${message}`);
    const issues = (e.details as { issues: Array<{ path: string; message: string }> }).issues;
    expect(issues.length).toBeGreaterThan(0);
    for (const i of issues) expect(i.message.length).toBeGreaterThan(3);
  });

  it('lists at most five problems in the message, all of them in the details', () => {
    const e = problem({
      name: 'X',
      version: 'y',
      run: 5,
      gpus: -1,
      install: 3,
      env: 4,
      ports: 'p',
    });
    expect(e.message).toMatch(/; and 2 more$/);
    expect((e.details as { issues: unknown[] }).issues).toHaveLength(7);
  });
});
