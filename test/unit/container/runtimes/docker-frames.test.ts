import { describe, expect, it } from 'vitest';
import {
  DockerStreamDemuxer,
  looksLikeFrameHeader,
  type DemuxMode,
  type OutputStream,
} from '../../../../src/container/runtimes/docker-frames.js';

function frame(stream: number, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Feeds `chunks` through a demuxer and returns what each stream received, plus the raw calls. */
function run(chunks: Buffer[], mode: DemuxMode = 'auto') {
  const calls: Array<[OutputStream, string]> = [];
  const d = new DockerStreamDemuxer((s, data) => calls.push([s, data]), mode);
  for (const c of chunks) d.push(c);
  d.end();
  const text = (s: OutputStream) =>
    calls
      .filter(([t]) => t === s)
      .map(([, x]) => x)
      .join('');
  return { stdout: text('stdout'), stderr: text('stderr'), calls, mode: d.detectedMode };
}

/** Every way of cutting `buf` into two pieces, plus one-byte pieces. */
function splits(buf: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let i = 0; i <= buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  out.push([...buf].map((b) => Buffer.from([b])));
  return out;
}

describe('DockerStreamDemuxer', () => {
  const stream = Buffer.concat([
    frame(1, 'hello\n'),
    frame(2, 'oops\n'),
    frame(1, ''), // zero-length frames happen and must not derail the parser
    frame(1, 'wörld ✓\n'),
    frame(2, 'more\n'),
  ]);

  it('separates stdout and stderr frames', () => {
    const r = run([stream]);
    expect(r.mode).toBe('multiplexed');
    expect(r.stdout).toBe('hello\nwörld ✓\n');
    expect(r.stderr).toBe('oops\nmore\n');
    // stream order is kept: the first stderr piece comes between the two stdout ones
    expect(r.calls.map(([s]) => s)).toEqual(['stdout', 'stderr', 'stdout', 'stderr']);
  });

  it('gives the same result however the bytes are split across chunks (headers, payloads, UTF-8)', () => {
    for (const chunks of splits(stream)) {
      const r = run(chunks);
      expect(r.stdout).toBe('hello\nwörld ✓\n');
      expect(r.stderr).toBe('oops\nmore\n');
      // never a replacement character: split multi-byte sequences are held until complete
      expect(r.stdout).not.toContain('\uFFFD');
    }
  });

  it('keeps a UTF-8 sequence split across two frames of the same stream, with the other stream between', () => {
    const check = Buffer.from('✓', 'utf8'); // 3 bytes
    const r = run([
      Buffer.concat([
        frame(1, check.subarray(0, 2)),
        frame(2, 'err\n'),
        frame(1, Buffer.concat([check.subarray(2), Buffer.from('\n')])),
      ]),
    ]);
    expect(r.stdout).toBe('✓\n');
    expect(r.stderr).toBe('err\n');
  });

  it('streams a large frame in pieces instead of waiting for all of it', () => {
    const big = 'x'.repeat(100_000);
    const whole = frame(1, big);
    const seen: string[] = [];
    const d = new DockerStreamDemuxer((_s, data) => seen.push(data));
    d.push(whole.subarray(0, 8 + 1000));
    expect(seen.join('')).toBe('x'.repeat(1000));
    d.push(whole.subarray(8 + 1000));
    d.end();
    expect(seen.join('')).toBe(big);
  });

  it('treats stream 0 (stdin) as stdout and 3 (engine error) as stderr', () => {
    const r = run([Buffer.concat([frame(0, 'a'), frame(3, 'b')])]);
    expect(r.stdout).toBe('a');
    expect(r.stderr).toBe('b');
  });

  it('passes raw (TTY or unframed Podman) output through as stdout', () => {
    const raw = Buffer.from('plain output, no headers\r\nline two\n');
    for (const chunks of splits(raw)) {
      const r = run(chunks);
      expect(r.mode).toBe('raw');
      expect(r.stdout).toBe(raw.toString());
      expect(r.stderr).toBe('');
    }
  });

  it('flushes raw output shorter than a header at the end', () => {
    const r = run([Buffer.from('hi\n')]);
    expect(r.mode).toBe('raw');
    expect(r.stdout).toBe('hi\n');
  });

  it('produces nothing for an empty stream', () => {
    expect(run([]).calls).toEqual([]);
  });

  it('falls back to raw if a later header is not a header, without losing bytes', () => {
    const junk = Buffer.from('\x07garbage that is not a frame\n', 'latin1');
    const r = run([Buffer.concat([frame(1, 'ok\n'), junk])]);
    expect(r.stdout).toBe('ok\n' + junk.toString('latin1'));
  });

  it('honours an explicit mode over sniffing', () => {
    const framed = frame(1, 'x');
    expect(run([framed], 'raw').stdout).toBe(framed.toString('utf8'));
    expect(run([framed], 'multiplexed').stdout).toBe('x');
  });

  it('recognises headers', () => {
    expect(looksLikeFrameHeader(Buffer.from([1, 0, 0, 0, 0, 0, 0, 5]))).toBe(true);
    expect(looksLikeFrameHeader(Buffer.from([2, 0, 0, 0, 255, 255, 255, 255]))).toBe(true);
    expect(looksLikeFrameHeader(Buffer.from([1, 0, 0, 1, 0, 0, 0, 5]))).toBe(false);
    expect(looksLikeFrameHeader(Buffer.from([4, 0, 0, 0, 0, 0, 0, 5]))).toBe(false);
    expect(looksLikeFrameHeader(Buffer.from('hello wo'))).toBe(false);
    expect(looksLikeFrameHeader(Buffer.from([1, 0, 0, 0]))).toBe(false);
  });
});
