import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeOrWait } from '../../../src/core/backpressure.js';

/** A writable of 4 bytes' buffer whose writes complete only when `release` is called. */
function slowSink() {
  const pending: Array<() => void> = [];
  const got: string[] = [];
  const sink = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _enc, cb) {
      got.push(chunk.toString());
      pending.push(cb);
    },
  });
  return { sink, got, release: () => pending.splice(0).forEach((cb) => cb()) };
}

describe('writeOrWait', () => {
  it('resolves at once while the buffer has room', async () => {
    const { sink, got } = slowSink();
    await writeOrWait(sink, 'ab');
    expect(got).toEqual(['ab']);
  });

  it('waits for the drain when the buffer is full, then resolves', async () => {
    const { sink, release } = slowSink();
    let done = false;
    const p = writeOrWait(sink, 'abcdefgh').then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    release();
    await p;
    expect(done).toBe(true);
    expect(sink.listenerCount('drain') + sink.listenerCount('close')).toBe(0);
  });

  it('resolves when the stream is destroyed while waiting (a reader that went away), leaving no listeners', async () => {
    const { sink } = slowSink();
    sink.on('error', () => undefined);
    const p = writeOrWait(sink, 'abcdefgh');
    sink.destroy(new Error('EPIPE'));
    await p;
    expect(sink.destroyed).toBe(true);
    expect(sink.listenerCount('drain')).toBe(0);
    await writeOrWait(sink, 'more'); // a write after: no wait, no throw
  });
});
