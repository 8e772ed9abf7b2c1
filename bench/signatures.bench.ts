import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import {
  canonicalize,
  decodeCanonical,
  keyPairFromSeed,
  signAsContainer,
  signedByContainer,
  signMessage,
  verifySignature,
} from '../src/core/index.js';
import { checkMessage, type HeartbeatMsg } from '../src/bus/index.js';
import { signingBytes, type UnsignedTx } from '../src/ledger/index.js';
import { interleaved, opsPerSec, row, sink, type BenchOptions, type Row } from './harness.js';

/**
 * ed25519 sign/verify through src/core/keys.ts (native OpenSSL, KeyObjects cached per key)
 * against the same native calls with the KeyObject rebuilt from DER on every call: the
 * ratio is what the KeyObject cache buys. (A pure-JS ed25519 would be the other natural
 * baseline; none is installed, and the project does not add one just for a benchmark.)
 */

// The DER wrappers keys.ts uses: PKCS#8 for a raw 32-byte seed, SPKI for a raw public key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function signUncached(secretHex: string, message: string): string {
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, Buffer.from(secretHex, 'hex')]),
    format: 'der',
    type: 'pkcs8',
  });
  return sign(null, Buffer.from(message), key).toString('hex');
}

function verifyUncached(publicHex: string, message: string, signatureHex: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(publicHex) || !/^[0-9a-f]{128}$/.test(signatureHex)) return false;
  try {
    const key = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicHex, 'hex')]),
      format: 'der',
      type: 'spki',
    });
    return verify(null, Buffer.from(message), key, Buffer.from(signatureHex, 'hex'));
  } catch {
    return false;
  }
}

export function runSignatures(opts: BenchOptions): Row[] {
  // A handful of signers, rotating, and a real transaction's signing bytes as the message.
  const keys = Array.from({ length: 8 }, (_, i) => keyPairFromSeed(`bench-signer-${i}`));
  const messages = keys.map((k, i) => {
    const unsigned: UnsignedTx = {
      chainId: 'aethir-bench',
      type: 'transfer',
      from: k.address,
      pubkey: k.publicKey,
      nonce: i,
      payload: { to: keys[(i + 1) % keys.length]!.address, amount: '1500000000000000000' },
    };
    return signingBytes(unsigned);
  });
  const sigs = keys.map((k, i) => signMessage(k.secretKey, messages[i]!));

  // Both paths must produce and accept the same signatures (ed25519 is deterministic).
  keys.forEach((k, i) => {
    if (signUncached(k.secretKey, messages[i]!) !== sigs[i])
      throw new Error('signatures bench: uncached signing disagrees with signMessage');
    if (
      !verifyUncached(k.publicKey, messages[i]!, sigs[i]!) ||
      !verifySignature(k.publicKey, messages[i]!, sigs[i]!)
    )
      throw new Error('signatures bench: a valid signature does not verify');
  });

  const n = keys.length;
  const loop = {
    warmupMs: opts.quick ? 50 : 200,
    durationMs: opts.quick ? 300 : 1_600,
    minIters: 50,
  };
  const rounds = opts.quick ? 2 : 4;
  opts.log('signatures: sign');
  const s = interleaved(
    rounds,
    {
      cached: (i) => sink(signMessage(keys[i % n]!.secretKey, messages[i % n]!)),
      uncached: (i) => sink(signUncached(keys[i % n]!.secretKey, messages[i % n]!)),
    },
    loop,
  );
  opts.log('signatures: verify');
  const v = interleaved(
    rounds,
    {
      cached: (i) => sink(verifySignature(keys[i % n]!.publicKey, messages[i % n]!, sigs[i % n]!)),
      uncached: (i) => sink(verifyUncached(keys[i % n]!.publicKey, messages[i % n]!, sigs[i % n]!)),
    },
    loop,
  );
  // What a receiver (indexer, checker, endpoint directory) does per heartbeat now: the wire's
  // decode and schema check it always did, then the container's signature (container-signature.ts).
  opts.log('signatures: heartbeats');
  const heartbeats = keys.map((k, i) => {
    const body: HeartbeatMsg = {
      container: k.address,
      at: 1_800_000_000_000 + i,
      freeGpus: 2,
      runningLeases: 1,
      load: 0.37,
      endpoint: 'http://10.0.0.5:7421',
      runtime: 'docker',
      images: ['docker.io/library/python:3.12-slim', 'ghcr.io/aethir/inference:1.4'],
    };
    return canonicalize(signAsContainer(k, 'heartbeat', 'aethir-bench', body));
  });
  const take = (i: number) => {
    const r = checkMessage(`hb.${keys[i % n]!.address}`, decodeCanonical(heartbeats[i % n]!));
    if (!r.ok) throw new Error('signatures bench: a heartbeat does not parse');
    return r.data;
  };
  if (!keys.every((_, i) => signedByContainer('heartbeat', 'aethir-bench', take(i))))
    throw new Error('signatures bench: a signed heartbeat does not verify');
  const hb = interleaved(
    rounds,
    {
      signed: (i) => sink(signedByContainer('heartbeat', 'aethir-bench', take(i))),
      parsed: (i) => sink(take(i)),
    },
    loop,
  );
  const baselineName = 'native crypto, KeyObject rebuilt from DER per call';
  return [
    row({
      suite: 'signatures',
      name: 'heartbeats taken per second: decoded, schema-checked and signature verified',
      value: opsPerSec(hb.signed),
      unit: 'ops/s',
      baseline: opsPerSec(hb.parsed),
      baselineName: 'decoded and schema-checked only (before heartbeats were signed)',
      better: 'higher',
    }),
    row({
      suite: 'signatures',
      name: 'ed25519 sign (keys.ts signMessage)',
      value: opsPerSec(s.cached),
      unit: 'ops/s',
      baseline: opsPerSec(s.uncached),
      baselineName,
      better: 'higher',
    }),
    row({
      suite: 'signatures',
      name: 'ed25519 verify (keys.ts verifySignature)',
      value: opsPerSec(v.cached),
      unit: 'ops/s',
      baseline: opsPerSec(v.uncached),
      baselineName,
      better: 'higher',
    }),
  ];
}
