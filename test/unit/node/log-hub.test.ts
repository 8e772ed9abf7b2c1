import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../src/bus/index.js';
import { subjects, type LeaseLogMsg } from '../../../src/container/index.js';
import { LogHub } from '../../../src/node/log-hub.js';

function out(lease: string, data: string, at = 1): LeaseLogMsg {
  return { lease, type: 'stdout', data, at };
}
function err(lease: string, data: string, at = 1): LeaseLogMsg {
  return { lease, type: 'stderr', data, at };
}
function exit(lease: string, exitCode = 0): LeaseLogMsg {
  return { lease, type: 'exit', exitCode, signal: null, reason: 'exited', at: 2 };
}

function setup() {
  const bus = new MemoryBus();
  const hub = new LogHub(bus);
  const log = (m: LeaseLogMsg) => bus.publish(subjects.leaseLog(m.lease), m);
  const end = (m: LeaseLogMsg) => bus.publish(subjects.leaseExit(m.lease), m);
  return { bus, hub, log, end };
}

/** Collects everything `follow` yields, failing the test instead of hanging if it never ends. */
async function drain(it: AsyncGenerator<LeaseLogMsg>, timeoutMs = 10_000): Promise<LeaseLogMsg[]> {
  const got: LeaseLogMsg[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('follow() did not end')), timeoutMs);
  });
  try {
    await Promise.race([
      (async () => {
        for await (const e of it) got.push(e);
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
  return got;
}

describe('LogHub', () => {
  it('a late subscriber gets every earlier event, then live ones, and ends after exit', async () => {
    const { hub, log, end } = setup();
    log(out('L1', 'one\n'));
    log(err('L1', 'two\n'));
    const follow = hub.follow('L1');
    const first = await follow.next();
    expect(first.value).toEqual(out('L1', 'one\n'));
    expect((await follow.next()).value).toEqual(err('L1', 'two\n'));
    // Nothing buffered now: the next read waits for a live event.
    const pending = follow.next();
    log(out('L1', 'three\n'));
    expect((await pending).value).toEqual(out('L1', 'three\n'));
    end(exit('L1', 7));
    expect((await follow.next()).value).toEqual(exit('L1', 7));
    expect(await follow.next()).toEqual({ done: true, value: undefined });
  });

  it('events published while the consumer is busy are queued in order', async () => {
    const { hub, log, end } = setup();
    const follow = hub.follow('L1');
    const p = drain(follow);
    for (let i = 0; i < 50; i++) log(out('L1', `${i}\n`));
    end(exit('L1'));
    const got = await p;
    expect(got.map((e) => (e.type === 'exit' ? 'exit' : e.data))).toEqual([
      ...Array.from({ length: 50 }, (_, i) => `${i}\n`),
      'exit',
    ]);
  });

  it('following a finished lease replays it and ends at once', async () => {
    const { hub, log, end } = setup();
    log(out('L1', 'a'));
    end(exit('L1'));
    expect(await drain(hub.follow('L1'))).toEqual([out('L1', 'a'), exit('L1')]);
    // and again: every follower gets its own replay
    expect(await drain(hub.follow('L1'))).toEqual([out('L1', 'a'), exit('L1')]);
  });

  it('ignores events after exit', async () => {
    const { hub, log, end } = setup();
    end(exit('L1', 1));
    log(out('L1', 'too late'));
    end(exit('L1', 2));
    expect(hub.snapshot('L1')).toEqual({ events: [exit('L1', 1)], done: true, truncated: false });
  });

  it('keeps leases apart, and several followers of one lease each get everything', async () => {
    const { hub, log, end } = setup();
    const a1 = drain(hub.follow('A'));
    const a2 = drain(hub.follow('A'));
    const b = drain(hub.follow('B'));
    log(out('A', 'a'));
    log(out('B', 'b'));
    end(exit('A'));
    end(exit('B', 3));
    expect(await a1).toEqual([out('A', 'a'), exit('A')]);
    expect(await a2).toEqual([out('A', 'a'), exit('A')]);
    expect(await b).toEqual([out('B', 'b'), exit('B', 3)]);
  });

  it('ignores other subjects under lease.*.*', () => {
    const { bus, hub } = setup();
    bus.publish('lease.L1.other', out('L1', 'x'));
    bus.publish(subjects.leaseOpened('ath1' + '0'.repeat(40)), out('L1', 'y'));
    bus.publish('lease.L1.log.extra', out('L1', 'z'));
    expect(hub.snapshot('L1')).toEqual({ events: [], done: false, truncated: false });
  });

  it('an abort signal ends a follow that is waiting for events', async () => {
    const { hub, log } = setup();
    log(out('L1', 'a'));
    const ac = new AbortController();
    const follow = hub.follow('L1', ac.signal);
    expect((await follow.next()).value).toEqual(out('L1', 'a'));
    const waiting = follow.next();
    ac.abort();
    expect(await waiting).toEqual({ done: true, value: undefined });
    // The lease goes on for others.
    log(out('L1', 'b'));
    expect(hub.snapshot('L1').events).toEqual([out('L1', 'a'), out('L1', 'b')]);
  });

  it('an already aborted signal still yields what is buffered, then ends', async () => {
    const { hub, log } = setup();
    log(out('L1', 'a'));
    const ac = new AbortController();
    ac.abort();
    expect(await drain(hub.follow('L1', ac.signal))).toEqual([out('L1', 'a')]);
  });

  it('a consumer that stops early (break) detaches its listener', async () => {
    const { hub, log, end } = setup();
    log(out('L1', 'a'));
    log(out('L1', 'b'));
    for await (const e of hub.follow('L1')) {
      expect(e).toEqual(out('L1', 'a'));
      break;
    }
    // Publishing afterwards must not throw or resurrect the finished follower.
    log(out('L1', 'c'));
    end(exit('L1'));
    expect(hub.snapshot('L1').events).toHaveLength(4);
  });

  it('snapshot: events so far and whether the lease is done', () => {
    const { hub, log, end } = setup();
    expect(hub.snapshot('unknown')).toEqual({ events: [], done: false, truncated: false });
    log(out('L1', 'a'));
    expect(hub.snapshot('L1')).toEqual({ events: [out('L1', 'a')], done: false, truncated: false });
    end(exit('L1'));
    expect(hub.snapshot('L1')).toEqual({
      events: [out('L1', 'a'), exit('L1')],
      done: true,
      truncated: false,
    });
  });

  it('keeps the last MiB per lease, after a marker saying how many bytes were dropped, and the exit', () => {
    const { hub, log, end } = setup();
    const chunk = (c: string) => c.repeat(256 * 1024);
    for (const c of 'abcd') log(out('L1', chunk(c))); // exactly 1 MiB: all kept
    expect(hub.snapshot('L1').truncated).toBe(false);
    log(out('L1', 'y'));
    end(exit('L1'));
    const s = hub.snapshot('L1');
    expect(s.truncated).toBe(true);
    expect(s.done).toBe(true);
    expect(s.events.map((e) => (e.type === 'exit' ? 'exit' : e.data.slice(0, 1)))).toEqual([
      '[',
      'b',
      'c',
      'd',
      'y',
      'exit',
    ]);
    expect(s.events[0]).toEqual(
      err('L1', '[aethir] 262144 bytes of output dropped here (the node keeps the last 1048576 bytes)\n'),
    );
  });

  it('a follower that stops reading is skipped ahead with a marker, never buffered for', async () => {
    const { hub, log, end } = setup();
    const chunk = 'x'.repeat(256 * 1024);
    log(out('L1', chunk));
    const follow = hub.follow('L1');
    expect((await follow.next()).value).toEqual(out('L1', chunk));
    // 8 MiB while it does not read: the hub keeps 1 MiB for everyone, this follower included.
    for (let i = 0; i < 32; i++) log(out('L1', chunk));
    end(exit('L1'));
    const rest = await drain(follow);
    expect(rest[0]).toEqual(
      err(
        'L1',
        `[aethir] ${28 * 256 * 1024} bytes of output dropped here (the node keeps the last 1048576 bytes)\n`,
      ),
    );
    expect(rest.slice(1)).toEqual([...Array.from({ length: 4 }, () => out('L1', chunk)), exit('L1')]);
  });

  it('close() stops listening to the bus', () => {
    const { hub, log } = setup();
    hub.close();
    log(out('L1', 'a'));
    expect(hub.snapshot('L1').events).toEqual([]);
  });
});
