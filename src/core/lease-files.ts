/**
 * What `aethir cp` moves is a tar stream, and either end may be a stranger: a user's archive must
 * not write outside the lease's directory, a host's archive must not write outside the user's
 * target. Both ends pass every entry through `checkTarEntry` and re-pack or extract only what it
 * admits: relative paths without `..`, regular files, directories and symlinks that stay inside
 * the tree; no hard links, devices, fifos, set-uid bits or absolute paths.
 */
import path from 'node:path';
import { extract as tarExtract, pack as tarPack, type Headers } from 'tar-stream';
import { AethirError } from './errors.js';

const bad = (m: string): never => {
  throw new AethirError('INVALID_ARGUMENT', m);
};

/**
 * A path inside the lease's working directory, as given by its user (`LEASE:data/x`): relative,
 * no `..`, no NUL. Returns it normalized ('.' for the directory itself).
 */
export function leasePath(p: string): string {
  if (p.includes('\0')) bad('a path may not contain NUL');
  if (path.posix.isAbsolute(p)) bad(`"${p}" is absolute: lease paths are relative to the lease's directory`);
  const n = path.posix.normalize(p);
  if (n === '..' || n.startsWith('../') || p.split('/').includes('..'))
    bad(`"${p}" leaves the lease's directory`);
  return n.replace(/\/+$/, '') || '.';
}

/** An admitted entry: its normalized name, type and (for symlinks) target. */
export interface SafeEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  size: number;
  mode: number;
  mtime?: Date;
  linkname?: string;
}

/** Checks one archive entry (see the file's comment); throws INVALID_ARGUMENT saying why, or returns null to skip it. */
export function checkTarEntry(h: Headers): SafeEntry | null {
  const raw = h.name;
  if (raw.includes('\0')) bad('an archive entry has a NUL in its name');
  if (path.posix.isAbsolute(raw)) bad(`archive entry "${raw}" has an absolute path`);
  if (raw.split('/').includes('..')) bad(`archive entry "${raw}" leaves the target directory`);
  const name = path.posix.normalize(raw).replace(/\/+$/, '');
  if (name === '.' || name === '') return null;
  const type = h.type ?? 'file';
  if (type !== 'file' && type !== 'directory' && type !== 'symlink')
    bad(`archive entry "${raw}" is a ${type}: only files, directories and symlinks are copied`);
  let linkname: string | undefined;
  if (type === 'symlink') {
    linkname = h.linkname ?? '';
    if (!linkname || linkname.includes('\0') || path.posix.isAbsolute(linkname))
      bad(`archive symlink "${raw}" points to an absolute path`);
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), linkname));
    if (resolved === '..' || resolved.startsWith('../'))
      bad(`archive symlink "${raw}" points outside the target directory`);
  }
  return {
    name,
    type: type as SafeEntry['type'],
    size: type === 'file' ? (h.size ?? 0) : 0,
    mode: (h.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o777,
    ...(h.mtime ? { mtime: h.mtime } : {}),
    ...(linkname !== undefined ? { linkname } : {}),
  };
}

/**
 * A filter for a tar stream: what goes in is parsed, every entry checked, and a clean archive of
 * the admitted ones comes out through `out`. `done` settles when the input has ended and been
 * re-packed, or rejects at the first entry refused (nothing after it is passed on).
 */
export function safeTarStream(out: (chunk: Buffer) => void): {
  write(chunk: Buffer): void;
  end(): void;
  done: Promise<void>;
} {
  const ex = tarExtract();
  const pk = tarPack();
  pk.on('data', (c: Buffer) => out(c));
  const done = new Promise<void>((resolve, reject) => {
    pk.on('end', resolve);
    const fail = (e: unknown) => {
      reject(e);
      ex.destroy();
    };
    ex.on('error', (e) =>
      fail(isAethir(e) ? e : new AethirError('INVALID_ARGUMENT', `not a tar archive: ${e.message}`)),
    );
    ex.on('entry', (h, stream, next) => {
      let entry: SafeEntry | null;
      try {
        entry = checkTarEntry(h);
      } catch (e) {
        stream.resume();
        return fail(e);
      }
      if (!entry) {
        stream.on('end', next);
        return void stream.resume();
      }
      const sink = pk.entry(
        {
          name: entry.name,
          type: entry.type,
          size: entry.size,
          mode: entry.mode,
          ...(entry.mtime ? { mtime: entry.mtime } : {}),
          ...(entry.linkname ? { linkname: entry.linkname } : {}),
        },
        (err) => (err ? fail(err) : next()),
      );
      if (entry.type === 'file') stream.pipe(sink);
      else {
        stream.resume();
        sink.end();
      }
    });
    ex.on('finish', () => pk.finalize());
  });
  done.catch(() => undefined);
  return { write: (c) => void ex.write(c), end: () => void ex.end(), done };
}

function isAethir(e: unknown): e is AethirError {
  return e instanceof AethirError;
}

/**
 * `--exclude` patterns as rsync and docker users write them: `*` and `?` within a name, `**`
 * across directories; a pattern without `/` matches a name at any depth.
 */
export function excludeMatcher(patterns: readonly string[]): (rel: string) => boolean {
  const res = patterns.map((pattern) => {
    const p = pattern.replace(/\/+$/, '');
    const anchored = p.includes('/');
    let re = '';
    for (let i = 0; i < p.length; i++) {
      const c = p[i]!;
      if (c === '*' && p[i + 1] === '*') {
        re += '.*';
        i++;
        if (p[i + 1] === '/') i++;
      } else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return new RegExp(anchored ? `^${re.replace(/^\//, '')}(/.*)?$` : `(^|/)${re}(/.*)?$`);
  });
  return (rel) => res.some((r) => r.test(rel));
}
