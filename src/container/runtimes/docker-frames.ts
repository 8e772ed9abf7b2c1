/**
 * Demultiplexer for the Docker Engine's attach/logs stream.
 *
 * Without a TTY the engine interleaves stdout and stderr on one connection, each piece prefixed by an
 * 8-byte header: [stream, 0, 0, 0, size (uint32 big-endian)], stream 0 = stdin, 1 = stdout, 2 = stderr
 * (3 = the engine's own error text, on newer APIs). With a TTY, and from some Podman versions and
 * endpoints, the same body is raw bytes with no framing at all. `auto` tells the two apart by the
 * first header, so the caller need not trust the Content-Type (older engines send a generic one).
 */
import { StringDecoder } from 'node:string_decoder';

export type OutputStream = 'stdout' | 'stderr';
export type DemuxMode = 'auto' | 'multiplexed' | 'raw';

const HEADER_SIZE = 8;

/** Whether 8 bytes can be a frame header: a known stream id followed by three zero bytes. */
export function looksLikeFrameHeader(b: Uint8Array): boolean {
  return b.length >= HEADER_SIZE && b[0]! <= 3 && b[1] === 0 && b[2] === 0 && b[3] === 0;
}

export class DockerStreamDemuxer {
  private mode: DemuxMode;
  /** Bytes held back while `auto` has seen fewer than a header's worth. */
  private sniffed: Buffer[] = [];
  private sniffedLength = 0;
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerLength = 0;
  /** Payload bytes of the current frame not yet seen; 0 means a header comes next. */
  private remaining = 0;
  private current: OutputStream = 'stdout';
  // One decoder per stream: a frame boundary may split a UTF-8 sequence, and the other stream's
  // frames may arrive before its remaining bytes do.
  private readonly decoders: Record<OutputStream, StringDecoder> = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  private ended = false;

  constructor(
    private readonly onData: (stream: OutputStream, data: string) => void,
    mode: DemuxMode = 'auto',
  ) {
    this.mode = mode;
  }

  /** The framing in effect; 'auto' until the first 8 bytes (or the end) have been seen. */
  get detectedMode(): DemuxMode {
    return this.mode;
  }

  push(chunk: Uint8Array): void {
    if (this.ended || chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.mode === 'auto') {
      this.sniffed.push(buf);
      this.sniffedLength += buf.length;
      if (this.sniffedLength < HEADER_SIZE) return;
      const head = Buffer.concat(this.sniffed);
      this.sniffed = [];
      this.sniffedLength = 0;
      this.mode = looksLikeFrameHeader(head) ? 'multiplexed' : 'raw';
      this.push(head);
      return;
    }
    if (this.mode === 'raw') {
      this.write('stdout', buf);
      return;
    }
    this.pushFrames(buf);
  }

  /** Flushes what is held back: undecided bytes (too short to be a frame, so raw) and partial UTF-8. */
  end(): void {
    if (this.ended) return;
    if (this.mode === 'auto' && this.sniffedLength > 0) {
      this.mode = 'raw';
      this.write('stdout', Buffer.concat(this.sniffed));
      this.sniffed = [];
    }
    this.ended = true;
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.decoders[stream].end();
      if (rest) this.onData(stream, rest);
    }
  }

  private pushFrames(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      if (this.remaining === 0) {
        const take = Math.min(HEADER_SIZE - this.headerLength, buf.length - off);
        buf.copy(this.header, this.headerLength, off, off + take);
        this.headerLength += take;
        off += take;
        if (this.headerLength < HEADER_SIZE) return;
        this.headerLength = 0;
        if (!looksLikeFrameHeader(this.header)) {
          // Not a frame: the stream is not (or no longer) multiplexed. Passing the bytes on as raw
          // output loses the stdout/stderr split but never loses the workload's output.
          this.mode = 'raw';
          this.write('stdout', Buffer.from(this.header));
          this.write('stdout', buf.subarray(off));
          return;
        }
        this.current = this.header[0] === 2 || this.header[0] === 3 ? 'stderr' : 'stdout';
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.remaining, buf.length - off);
      this.write(this.current, buf.subarray(off, off + take));
      this.remaining -= take;
      off += take;
    }
  }

  private write(stream: OutputStream, bytes: Buffer): void {
    if (bytes.length === 0) return;
    const data = this.decoders[stream].write(bytes);
    if (data) this.onData(stream, data);
  }
}
