/** The part of a writable stream `writeOrWait` needs (process.stdout, an HTTP response, a socket). */
interface Drainable {
  write(chunk: string | Uint8Array): boolean;
  once(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
  off(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
  readonly destroyed?: boolean;
}

/**
 * Writes `chunk`; where the stream's buffer is full, resolves once it has drained (or closed, or
 * failed: the caller then sees `destroyed`). Who reads a fast source and writes to a slow reader
 * (a lease's output to a terminal or a pipe, a log stream to an HTTP client) waits here, so the
 * backlog stays upstream, where it is bounded, instead of piling up in this process.
 */
export async function writeOrWait(stream: Drainable, chunk: string | Uint8Array): Promise<void> {
  if (stream.write(chunk) || stream.destroyed) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
    stream.once('error', done);
  });
}
