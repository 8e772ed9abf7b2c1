import { describe, expect, it } from 'vitest';
import { pack as tarPack } from 'tar-stream';
import { checkTarEntry, excludeMatcher, leasePath, safeTarStream } from '../../../src/core/lease-files.js';

describe('leasePath: a path inside the lease directory', () => {
  it('normalizes relative paths', () => {
    expect(leasePath('data')).toBe('data');
    expect(leasePath('./data/x/')).toBe('data/x');
    expect(leasePath('.')).toBe('.');
  });
  it('refuses absolute paths, .. and NUL', () => {
    expect(() => leasePath('/etc')).toThrow(/absolute/);
    expect(() => leasePath('../x')).toThrow(/leaves/);
    expect(() => leasePath('a/../../x')).toThrow(/leaves/);
    expect(() => leasePath('a/../b')).toThrow(/leaves/);
    expect(() => leasePath('a\0b')).toThrow(/NUL/);
  });
});

describe('checkTarEntry: what an archive may hold', () => {
  it('admits files, directories and symlinks inside the tree; drops set-uid bits', () => {
    expect(checkTarEntry({ name: './a/b.txt', type: 'file', size: 3, mode: 0o4755 })).toMatchObject({
      name: 'a/b.txt',
      type: 'file',
      size: 3,
      mode: 0o755,
    });
    expect(checkTarEntry({ name: 'a/l', type: 'symlink', linkname: '../b' })).toMatchObject({
      linkname: '../b',
    });
    expect(checkTarEntry({ name: './', type: 'directory' })).toBeNull();
  });
  it.each([
    [{ name: '../x', type: 'file' }, /leaves/],
    [{ name: '/etc/passwd', type: 'file' }, /absolute/],
    [{ name: 'a/../../x', type: 'file' }, /leaves/],
    [{ name: 'l', type: 'symlink', linkname: '/etc' }, /absolute/],
    [{ name: 'a/l', type: 'symlink', linkname: '../../etc' }, /outside/],
    [{ name: 'h', type: 'link', linkname: 'x' }, /only files/],
    [{ name: 'd', type: 'character-device' }, /only files/],
    [{ name: 'f', type: 'fifo' }, /only files/],
  ] as const)('refuses %o', (h, why) => {
    expect(() => checkTarEntry(h as never)).toThrow(why);
  });
});

async function archive(entries: Array<{ name: string; type?: string; linkname?: string; body?: string }>) {
  const pk = tarPack();
  for (const e of entries)
    pk.entry({ name: e.name, type: (e.type ?? 'file') as 'file', linkname: e.linkname }, e.body ?? undefined);
  pk.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pk) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('safeTarStream', () => {
  it('re-packs an admitted archive', async () => {
    const out: Buffer[] = [];
    const s = safeTarStream((c) => out.push(c));
    s.write(
      await archive([
        { name: 'dir', type: 'directory' },
        { name: 'dir/a', body: 'hello' },
      ]),
    );
    s.end();
    await s.done;
    expect(Buffer.concat(out).toString('latin1')).toContain('hello');
  });
  it('stops at the first refused entry: nothing after it passes', async () => {
    const out: Buffer[] = [];
    const s = safeTarStream((c) => out.push(c));
    s.write(
      await archive([
        { name: '../evil', body: 'x' },
        { name: 'after', body: 'AFTER' },
      ]),
    );
    s.end();
    await expect(s.done).rejects.toThrow(/leaves the target directory/);
    expect(Buffer.concat(out).toString('latin1')).not.toContain('AFTER');
  });
  it('refuses what is not an archive', async () => {
    const s = safeTarStream(() => undefined);
    s.write(Buffer.alloc(512, 7));
    s.end();
    await expect(s.done).rejects.toThrow();
  });
});

describe('excludeMatcher', () => {
  const m = excludeMatcher(['*.ckpt', 'logs/', 'build/**/tmp', '?.o']);
  it.each([
    ['model.ckpt', true],
    ['a/b/model.ckpt', true],
    ['model.ckpt.txt', false],
    ['x.o', true],
    ['xy.o', false],
    ['build/a/b/tmp', true],
    ['src/build/a/tmp', false],
  ])('%s -> %s', (p, want) => expect(m(p)).toBe(want));
});
