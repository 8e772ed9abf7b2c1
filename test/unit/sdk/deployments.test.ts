import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import fc from 'fast-check';
import { VolumeName } from '../../../src/ledger/index.js';
import {
  DeploymentStore,
  deploymentVolumeName,
  type DeploymentRecord,
} from '../../../src/sdk/deployments.js';

const record = (name: string, createdAt = 1): DeploymentRecord => ({
  name,
  createdAt,
  source: { file: 'deploy.yaml', sha256: 'ab' },
  chainId: 'aethir-devnet',
  user: 'ath1' + '0'.repeat(40),
  leases: [
    {
      service: 'web',
      placement: 'dc',
      index: 0,
      lease: 'L1',
      container: 'c',
      containerName: 'sim-1',
      gpus: 0,
    },
  ],
  closedAt: null,
});

describe('deployment records on the client', () => {
  it('saves 0600 in a 0700 folder, reads back, lists oldest first', () => {
    const home = mkdtempSync(join(tmpdir(), 'aethir-deployments-'));
    onTestFinished(() => rmSync(home, { recursive: true, force: true }));
    const dir = join(home, 'deployments');
    const store = new DeploymentStore(dir);
    expect(store.list()).toEqual([]);
    store.save(record('web', 2));
    store.save(record('api', 1));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'web.json')).mode & 0o777).toBe(0o600);
    expect(store.get('web')).toEqual(record('web', 2));
    expect(store.list().map((r) => r.name)).toEqual(['api', 'web']);
  });

  it('names cannot leave the folder; a missing or corrupt record is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aethir-deployments-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const store = new DeploymentStore(dir);
    for (const bad of ['../keys/developer', 'a/b', '', 'UPPER', '-x', 'x'.repeat(64)])
      expect(() => store.get(bad)).toThrow(/is not a deployment name/);
    expect(() => store.get('nope')).toThrow('no deployment named nope (aethir deployments ls lists them)');
    writeFileSync(join(dir, 'bad.json'), '{"name": "bad"');
    expect(() => store.get('bad')).toThrow(`${join(dir, 'bad.json')} is not a deployment record`);
    // a record whose name differs from its file is not taken for another
    writeFileSync(join(dir, 'other.json'), JSON.stringify(record('web')));
    expect(() => store.get('other')).toThrow('is not a deployment record');
    expect(readFileSync(join(dir, 'bad.json'), 'utf8')).toBe('{"name": "bad"');
  });
});

describe("a deployment's volume names", () => {
  it('readable, the same on every deploy, never one for two (deployment, service, index, volume)', () => {
    const n = deploymentVolumeName('shop', 'db', 0, 'data');
    expect(n).toMatch(/^shop-db-0-data-[0-9a-f]{12}$/);
    expect(deploymentVolumeName('shop', 'db', 0, 'data')).toBe(n);
    expect(deploymentVolumeName('shop', 'db', 1, 'data')).not.toBe(n);
    // "d-x" + "y" and "d" + "x-y" read alike; they are two volumes
    expect(deploymentVolumeName('d-x', 'y', 0, 'z')).not.toBe(deploymentVolumeName('d', 'x-y', 0, 'z'));
    expect(deploymentVolumeName('d', 'x', 0, 'Data')).not.toBe(deploymentVolumeName('d', 'x', 0, 'data'));
    expect(deploymentVolumeName('a'.repeat(60), 'b', 0, 'data')).toMatch(/^a{50}-[0-9a-f]{12}$/);
  });

  it('always a valid volume name, distinct for distinct parts (fuzzed)', () => {
    const part = fc.string({ minLength: 1, maxLength: 70 });
    fc.assert(
      fc.property(part, part, fc.nat(63), part, (d, s, i, v) => {
        expect(VolumeName.safeParse(deploymentVolumeName(d, s, i, v)).success).toBe(true);
      }),
    );
  });
});
