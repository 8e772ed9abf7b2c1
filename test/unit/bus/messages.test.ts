import { describe, expect, it } from 'vitest';
import {
  checkMessage,
  checkReply,
  HeartbeatSchema,
  LeaseExitSchema,
  LeaseOpenedSchema,
  LeaseReceiptSchema,
  replySchemaFor,
  rpcSubjects,
  schemaFor,
  subjectKind,
  subjectPatterns,
} from '../../../src/bus/index.js';
import { subjects, type LeaseLogMsg, type LeaseOpenedMsg } from '../../../src/container/index.js';
import { keyPairFromSeed } from '../../../src/core/index.js';
import { signReceipt } from '../../../src/ledger/index.js';

const lease: LeaseOpenedMsg['lease'] = {
  id: 'Labc',
  user: 'ath1' + '0'.repeat(40),
  container: 'ath1' + '1'.repeat(40),
  gpus: 1,
  pricePerHour: 10n ** 24n,
  maxDurationSec: 3600,
  openEnded: false,
  workload: { command: ['nvidia-smi'], env: { A: 'b' } },
  escrow: 5n,
  charged: 0n,
  hostShare: 0n,
  protocolShare: 0n,
  openedAt: 1,
  settledAt: 1,
  closedAt: null,
  status: 'open',
  exitCode: null,
  closeReason: null,
  closedBy: null,
  lastReceiptSeq: 0,
  receiptServedMs: 0,
};

describe('bus message schemas', () => {
  it('maps every subject the container role uses to its schema', () => {
    expect(schemaFor(subjects.heartbeat('c1'))).toBe(HeartbeatSchema);
    expect(schemaFor(subjects.leaseOpened('c1'))).toBe(LeaseOpenedSchema);
    expect(schemaFor(subjects.leaseExit('L1'))).toBe(LeaseExitSchema);
    expect(subjectKind(subjects.leaseClosed('c1'))).toBe('lease.closed');
    expect(subjectKind(subjects.leasePreempted('c1'))).toBe('lease.preempted');
    expect(subjectKind(subjects.leaseLog('L1'))).toBe('lease.log');
    expect(subjectKind(rpcSubjects.match)).toBe('match');
    expect(replySchemaFor(rpcSubjects.match)).toBeDefined();
    expect(schemaFor('something.else')).toBeUndefined();
    expect(subjectKind('hb.c1.extra')).toBe('other');
    expect(subjectPatterns().map((p) => p.kind)).toEqual([
      'hb',
      'lease.opened',
      'lease.closed',
      'lease.preempted',
      'lease.log',
      'lease.exit',
      'lease.receipt',
      'match',
      'offers',
      'check',
      'logs',
    ]);
  });

  it('reads lease.opened.<ctr> as a lease event even for a lease called "log"', () => {
    expect(subjectKind('lease.opened.log')).toBe('lease.opened');
    expect(subjectKind('lease.closed.exit')).toBe('lease.closed');
  });

  it('accepts what the agent and devnet publish today, bigints included', () => {
    const out: LeaseLogMsg = { lease: 'L1', type: 'stderr', data: 'x', at: 3 };
    const exit: LeaseLogMsg = {
      lease: 'L1',
      type: 'exit',
      exitCode: null,
      signal: 'SIGKILL',
      reason: 'timeout',
      at: 4,
      limit: 'wallSeconds',
    };
    expect(checkMessage(subjects.leaseLog('L1'), out)).toEqual({ ok: true, data: out });
    expect(checkMessage(subjects.leaseExit('L1'), exit)).toEqual({ ok: true, data: exit });
    expect(checkMessage(subjects.leaseOpened(lease.container), { lease })).toEqual({
      ok: true,
      data: { lease },
    });
    expect(checkMessage(subjects.leaseClosed('c1'), { lease: 'L1' }).ok).toBe(true);
    const hb = { container: 'c1', at: 5, freeGpus: 0, runningLeases: 2 };
    expect(checkMessage(subjects.heartbeat('c1'), hb)).toEqual({ ok: true, data: hb });
  });

  it('refuses wrong shapes, with the subject kind and the first problem', () => {
    expect(checkMessage('hb.c1', { container: 'c1', at: 1, freeGpus: -1, runningLeases: 0 })).toMatchObject({
      ok: false,
      kind: 'hb',
      reason: expect.stringContaining('freeGpus'),
    });
    // an exit event on the log subject, a log line on the exit subject
    expect(checkMessage('lease.L1.log', { lease: 'L1', type: 'exit', at: 1 }).ok).toBe(false);
    expect(checkMessage('lease.L1.exit', { lease: 'L1', type: 'stdout', data: '', at: 1 }).ok).toBe(false);
    // bigint fields must be bigints, not the strings an ordinary JSON bus would deliver
    const stringly = { lease: { ...lease, pricePerHour: '1000' } };
    expect(checkMessage(subjects.leaseOpened(lease.container), stringly).ok).toBe(false);
    expect(checkMessage('match.request', 'x').ok).toBe(false);
  });

  it('refuses a message whose subject names someone else', () => {
    expect(checkMessage('hb.c2', { container: 'c1', at: 1, freeGpus: 0, runningLeases: 0 })).toMatchObject({
      ok: false,
      reason: 'subject names c2, message c1',
    });
    expect(checkMessage(subjects.leaseOpened('other'), { lease }).ok).toBe(false);
    expect(checkMessage('lease.L2.log', { lease: 'L1', type: 'stdout', data: '', at: 1 }).ok).toBe(false);
  });

  it('carries usage receipts on lease.<id>.receipt, for the lease they name', () => {
    const user = keyPairFromSeed('messages-test:user');
    const r = signReceipt(user, 'c', {
      lease: 'L1',
      servedMs: 5,
      seq: 1,
      at: 2,
      samples: [{ at: 2, ok: true }],
    });
    expect(subjects.leaseReceipt('L1')).toBe('lease.L1.receipt');
    expect(schemaFor(subjects.leaseReceipt('L1'))).toBe(LeaseReceiptSchema);
    expect(subjectKind('lease.L1.receipt')).toBe('lease.receipt');
    expect(checkMessage('lease.L1.receipt', r)).toEqual({ ok: true, data: r });
    expect(checkMessage('lease.L2.receipt', r)).toMatchObject({
      ok: false,
      reason: 'subject names L2, message L1',
    });
    expect(checkMessage('lease.L1.receipt', { ...r, seq: 0 }).ok).toBe(false);
    expect(checkMessage('lease.L1.receipt', { ...r, sig: 'x' }).ok).toBe(false);
    // a lease called "opened" is still read one way only
    expect(subjectKind('lease.opened.receipt')).toBe('lease.opened');
  });

  it('checks match replies as objects and leaves replies on other subjects alone', () => {
    expect(checkReply('match.request', { container: {}, score: 1 }).ok).toBe(true);
    expect(checkReply('match.request', 5)).toMatchObject({ ok: false, kind: 'match' });
    expect(checkReply('rpc.other', 5)).toEqual({ ok: true, data: 5 });
  });
});
