import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../src/bus/index.js';
import { subjects } from '../../../src/container/index.js';
import type { Lease, Ledger } from '../../../src/ledger/index.js';
import { EndpointDirectory, leaseEventsOn } from '../../../src/node/roles.js';
import { generateKeyPair, signAsContainer } from '../../../src/core/index.js';

describe('leaseEventsOn', () => {
  const leases: Record<string, Pick<Lease, 'container' | 'status'>> = {
    L1: { container: 'c1', status: 'open' },
    L2: { container: 'c2', status: 'open' },
    L3: { container: 'c1', status: 'closed' },
  };
  const ledger = { lease: (id: string) => leases[id] } as unknown as Ledger;

  it("forwards a container's lease events and the usage receipts of its open leases only", () => {
    const bus = new MemoryBus();
    const got: string[] = [];
    const off = leaseEventsOn(bus, 'c1', (s) => got.push(s), { ledger: () => ledger });
    bus.publish(subjects.leaseOpened('c1'), {});
    bus.publish(subjects.leaseOpened('c2'), {});
    for (const id of ['L1', 'L2', 'L3', 'Lunknown']) bus.publish(subjects.leaseReceipt(id), { lease: id });
    bus.publish(subjects.leaseClosed('c1'), {});
    expect(got).toEqual(['lease.opened.c1', 'lease.L1.receipt', 'lease.closed.c1']);
    off();
    bus.publish(subjects.leaseReceipt('L1'), { lease: 'L1' });
    expect(got).toHaveLength(3);
  });

  it('takes receipts from another bus when the node publishes them elsewhere, and none without a ledger', () => {
    const local = new MemoryBus();
    const network = new MemoryBus();
    const got: string[] = [];
    leaseEventsOn(local, 'c1', (s) => got.push(s), { ledger: () => ledger, bus: network });
    local.publish(subjects.leaseReceipt('L1'), {});
    network.publish(subjects.leaseReceipt('L1'), {});
    const plain: string[] = [];
    leaseEventsOn(network, 'c1', (s) => plain.push(s));
    network.publish(subjects.leaseReceipt('L1'), {});
    expect(got).toEqual(['lease.L1.receipt', 'lease.L1.receipt']);
    expect(plain).toEqual([]);
  });
});

describe('parseChoices (--roles, --checks)', () => {
  it('takes each choice once and names what is allowed otherwise', async () => {
    const { parseChoices, parseRoles } = await import('../../../src/node/index.js');
    const { parseChecks } = await import('../../../src/cli/commands/node.js');
    expect(parseRoles(' api, checker,api ')).toEqual(['api', 'checker']);
    expect(parseChecks('liveness,qos')).toEqual(['liveness', 'qos']);
    expect(() => parseChecks('liveness,speed')).toThrow(
      'unknown check "speed"; checks are liveness, capacity, location, qos',
    );
    expect(() => parseChoices(' , ', ['a', 'b'], '--x', 'thing')).toThrow('--x needs at least one of a, b');
  });
});

describe('ClusterNode.start: bad options are refused before anything connects', () => {
  it('a --probe-url that is no host:port', async () => {
    const { ClusterNode } = await import('../../../src/node/index.js');
    const { defaultConfig } = await import('../../../src/core/index.js');
    for (const probeUrl of ['no port here', 'http://', 'h:99999', `http://${'a'.repeat(300)}:80`])
      await expect(
        ClusterNode.start({
          config: defaultConfig({}),
          roles: ['checker'],
          nats: 'nats://127.0.0.1:1',
          name: 'probe-url-test',
          probeUrl,
        }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/--probe-url/) });
  });
});

describe('EndpointDirectory', () => {
  const chainId = 'endpoint-test';
  const host = generateKeyPair();
  const thief = generateKeyPair();
  const hb = (container: string, endpoint: string | undefined, at: number) => ({
    container,
    at,
    freeGpus: 1,
    runningLeases: 0,
    ...(endpoint ? { endpoint } : {}),
  });
  const signed = (body: ReturnType<typeof hb>, key = host, chain = chainId) =>
    signAsContainer(key, 'heartbeat', chain, body);

  it("takes only the container's own signed heartbeat for this chain, each newer than the last", () => {
    const bus = new MemoryBus();
    const dir = new EndpointDirectory(bus, chainId);
    const good = 'http://127.0.0.1:9001';
    bus.publish(subjects.heartbeat(host.address), signed(hb(host.address, good, 10)));
    expect(dir.baseOf(host.address)).toBe(good);
    expect(dir.endpointOf({ id: 'L1', container: host.address, status: 'open' })).toBe(`${good}/l/L1/`);

    const evil = 'http://127.0.0.1:5432';
    const attempts = [
      hb(host.address, evil, 20), // unsigned
      signed(hb(host.address, evil, 20), thief), // signed by another key
      signed(hb(host.address, evil, 20), host, 'other-chain'), // another chain
      { ...signed(hb(host.address, good, 20)), endpoint: evil }, // the signature of another URL
      { ...signed(hb(host.address, evil, 20)), at: 21 }, // of another time
      { ...signed(hb(host.address, evil, 20)), sig: 'zz' }, // malformed
      hb(host.address, evil, 20), // unsigned
    ];
    for (const a of attempts) bus.publish(subjects.heartbeat(host.address), a);
    // and no heartbeat without an endpoint can take the announced one away
    bus.publish(subjects.heartbeat(host.address), signed(hb(host.address, undefined, 30)));
    expect(dir.baseOf(host.address)).toBe(good);

    // the host moves: its newer heartbeat wins; replaying its older one does not move it back
    const moved = 'http://127.0.0.1:9002';
    bus.publish(subjects.heartbeat(host.address), signed(hb(host.address, moved, 40)));
    bus.publish(subjects.heartbeat(host.address), signed(hb(host.address, good, 10)));
    expect(dir.baseOf(host.address)).toBe(moved);
    expect(dir.endpointOf({ id: 'L1', container: host.address, status: 'closed' })).toBeNull();
    dir.close();
  });

  it("keeps only the network's containers: a stranger's own signed heartbeats grow nothing", () => {
    const bus = new MemoryBus();
    const dir = new EndpointDirectory(bus, chainId, (id) => id === host.address);
    bus.publish(subjects.heartbeat(thief.address), signed(hb(thief.address, 'http://10.0.0.1:1', 1), thief));
    expect(dir.baseOf(thief.address)).toBeNull();
    bus.publish(subjects.heartbeat(host.address), signed(hb(host.address, 'http://10.0.0.2:2', 1)));
    expect(dir.baseOf(host.address)).toBe('http://10.0.0.2:2');
    dir.close();
  });
});
