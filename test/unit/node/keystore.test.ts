import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AethirError, keyPairFromSeed } from '../../../src/core/index.js';
import { Keystore } from '../../../src/node/keystore.js';

let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'aethir-keystore-'));
  dir = join(root, 'keys'); // does not exist yet: create() makes it
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AethirError);
    return { code: (e as AethirError).code, message: (e as AethirError).message };
  }
  throw new Error('expected an AethirError');
}

describe('Keystore', () => {
  it('creates a key file and loads the same key back', () => {
    const ks = new Keystore(dir);
    expect(ks.has('alice')).toBe(false);
    const k = ks.create('alice');
    expect(ks.has('alice')).toBe(true);
    expect(ks.path('alice')).toBe(join(dir, 'alice.json'));
    const loaded = new Keystore(dir).load('alice');
    expect(loaded).toEqual({ secretKey: k.secretKey, publicKey: k.publicKey, address: k.address });
    const file = JSON.parse(readFileSync(join(dir, 'alice.json'), 'utf8'));
    expect(file).toEqual({
      name: 'alice',
      address: k.address,
      publicKey: k.publicKey,
      secretKey: k.secretKey,
    });
  });

  it('stores a given key as is', () => {
    const ks = new Keystore(dir);
    const given = keyPairFromSeed('keystore-test');
    expect(ks.create('given', given)).toBe(given);
    expect(ks.load('given').address).toBe(given.address);
  });

  it('generates a different key each time', () => {
    const ks = new Keystore(dir);
    expect(ks.create('a').address).not.toBe(ks.create('b').address);
  });

  it('writes key files readable by their owner only (0600)', () => {
    const ks = new Keystore(dir);
    ks.create('secret');
    expect(statSync(ks.path('secret')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o077).toBe(0);
  });

  it('lists keys sorted by name with their addresses; an absent directory lists nothing', () => {
    const ks = new Keystore(dir);
    expect(ks.list()).toEqual([]);
    const b = ks.create('bob');
    const a = ks.create('alice');
    const c = ks.create('carol-2.test_x');
    writeFileSync(join(dir, 'notes.txt'), 'not a key');
    expect(ks.list()).toEqual([
      { name: 'alice', address: a.address },
      { name: 'bob', address: b.address },
      { name: 'carol-2.test_x', address: c.address },
    ]);
  });

  it('refuses to overwrite an existing key (CONFLICT) and leaves it intact', () => {
    const ks = new Keystore(dir);
    const k = ks.create('alice');
    const e = codeOf(() => ks.create('alice'));
    expect(e.code).toBe('CONFLICT');
    expect(e.message).toContain('alice');
    expect(ks.load('alice').secretKey).toBe(k.secretKey);
  });

  it('loadOrCreate creates once, then loads', () => {
    const ks = new Keystore(dir);
    const k = ks.loadOrCreate('dev');
    expect(ks.loadOrCreate('dev').address).toBe(k.address);
  });

  it.each(['', 'a/b', '../escape', 'has space', 'semi;colon', 'x'.repeat(65), 'ünïcode'])(
    'rejects the key name %j with INVALID_ARGUMENT',
    (name) => {
      const ks = new Keystore(dir);
      expect(codeOf(() => ks.create(name)).code).toBe('INVALID_ARGUMENT');
      expect(codeOf(() => ks.load(name)).code).toBe('INVALID_ARGUMENT');
      expect(codeOf(() => ks.path(name)).code).toBe('INVALID_ARGUMENT');
    },
  );

  it('accepts a 64-character name', () => {
    const ks = new Keystore(dir);
    const name = 'k'.repeat(64);
    ks.create(name);
    expect(ks.has(name)).toBe(true);
  });

  it('a key file holding JSON null or an array is INVALID_ARGUMENT, not a crash', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'nul.json'), 'null');
    writeFileSync(join(dir, 'arr.json'), '[]');
    expect(codeOf(() => new Keystore(dir).load('nul')).code).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => new Keystore(dir).load('arr')).code).toBe('INVALID_ARGUMENT');
  });

  it('list() shows an unreadable key file with its problem and still lists the others', () => {
    const ks = new Keystore(dir);
    const k = ks.create('good');
    writeFileSync(join(dir, 'broken.json'), '{oops');
    writeFileSync(join(dir, 'my key.json'), '{}');
    const list = ks.list();
    expect(list.map((e) => e.name)).toEqual(['broken', 'good', 'my key']);
    expect(list[1]).toEqual({ name: 'good', address: k.address });
    expect(list[0]!.error).toMatch(/not valid JSON/);
    expect(list[2]!.error).toMatch(/may use letters/);
  });

  it('a missing key is NOT_FOUND with a hint on how to create it', () => {
    const ks = new Keystore(dir);
    const e = codeOf(() => ks.load('nobody'));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toContain('aethir keys new nobody');
    expect(e.message).toContain(dir);
  });

  it.each([
    ['not JSON', '{"secretKey": '],
    ['no secretKey', '{"name": "x"}'],
    ['a secretKey that is not a string', '{"secretKey": 42}'],
    ['a secretKey that is not 32 bytes of hex', '{"secretKey": "abc"}'],
  ])('a corrupt key file (%s) is INVALID_ARGUMENT', (_what, content) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'broken.json'), content);
    const e = codeOf(() => new Keystore(dir).load('broken'));
    expect(e.code).toBe('INVALID_ARGUMENT');
  });
});
