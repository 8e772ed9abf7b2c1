import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeploymentStore, type DeploymentRecord } from '../../../src/sdk/deployments.js';

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
    const dir = join(mkdtempSync(join(tmpdir(), 'aethir-deployments-')), 'deployments');
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
