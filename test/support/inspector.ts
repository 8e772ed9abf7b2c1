import WebSocket from 'ws';

/**
 * A Chrome DevTools Protocol session with a node started with `--inspect=127.0.0.1:0`, to measure
 * what it really keeps: a full collection first, then its heap and buffers (`retainedBytes`). Its
 * RSS alone also counts garbage V8 has not collected yet, which under load is tens of MiB.
 */
export interface Inspector {
  /** heapUsed + external (Buffers included) right after a full garbage collection, in bytes */
  retainedBytes(): Promise<number>;
  close(): void;
}

/** Connects to the inspector a node announced on its stderr ("Debugger listening on ws://…"). */
export async function connectInspector(stderr: () => string, timeoutMs = 10_000): Promise<Inspector> {
  const deadline = Date.now() + timeoutMs;
  let url: string | undefined;
  while (!(url = /Debugger listening on (ws:\/\/\S+)/.exec(stderr())?.[1])) {
    if (Date.now() > deadline) throw new Error(`no inspector announced on stderr: ${stderr().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let next = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (raw: Buffer) => {
    const m = JSON.parse(raw.toString('utf8')) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    const w = m.id === undefined ? undefined : waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id!);
    if (m.error) w.reject(new Error(`inspector: ${m.error.message}`));
    else w.resolve(m.result);
  });
  ws.on('close', () => {
    for (const w of waiting.values()) w.reject(new Error('inspector: connection closed'));
    waiting.clear();
  });
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async retainedBytes() {
      await call('HeapProfiler.collectGarbage');
      const r = (await call('Runtime.evaluate', {
        expression: 'JSON.stringify(process.memoryUsage())',
        returnByValue: true,
      })) as { result: { value: string } };
      const m = JSON.parse(r.result.value) as { heapUsed: number; external: number };
      return m.heapUsed + m.external;
    },
    close: () => ws.close(),
  };
}
