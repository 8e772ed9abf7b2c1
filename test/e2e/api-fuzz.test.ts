import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  generateKeyPair,
  signRequest,
  SIGNATURE_HEADER,
  type KeyPair,
} from '../../src/core/index.js';
import { signTx, TX_TYPES, type SignedTx, type TxType } from '../../src/ledger/index.js';
import type { BlockEvent } from '../../src/node/chain.js';
import type { RunningNode } from '../../src/node/index.js';
import { ApiClient, TxSender } from '../../src/sdk/index.js';
import { cli, startInProcessDevnet, tempHome } from './helpers.js';

/**
 * The public API of a live devnet under attack. One devnet serves three checks:
 * - fuzzing: requests derived from /openapi.json with fast-check (valid-looking ones from each
 *   route's schemas, and invalid ones: missing and unknown fields, wrong types, bad JSON, deep
 *   JSON, wrong content types, odd paths), at least 10,000 a run to every route: no 5xx, no
 *   crash, every error in the documented Error shape, and no rejected request ever changes the
 *   ledger (every block applied meanwhile holds only the devnet's own actors' transactions);
 * - a reservation flood (unsigned, unfunded and over-cap requests from another address) cannot
 *   keep an honest `aethir rent --gpus 1` from its GPU;
 * - `aethir ledger verify --api URL` replays the node's blocks here and checks its proofs.
 */
const SEED = Number(process.env.AETHIR_FUZZ_SEED ?? Date.now() % 2 ** 31);
const REQUESTS = 10_000;
const CONCURRENCY = 12;

type Schema = Record<string, any>;
interface Op {
  method: string;
  path: string;
  parameters: Array<{ name: string; in: 'path' | 'query'; required: boolean; schema: Schema }>;
  body?: Schema;
}
interface Req {
  op: Op;
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  kind: 'valid-looking' | 'invalid';
}

describe('the API under fuzzing and floods', () => {
  let node: RunningNode;
  const home = tempHome();
  const env = () => ({ AETHIR_HOME: home, AETHIR_API: node.url });
  /** the devnet's actors: only their transactions may be applied while strangers attack */
  let insiders: Set<string>;
  const applied: Array<{ height: number; from: string; type: string }> = [];
  let stopWatching: () => void;

  beforeAll(async () => {
    node = await startInProcessDevnet(home, {
      demoContainers: 4,
      // the fuzz sends ~330 matches from this address; the flood's attacker has its own
      apiMatchRateLimitPerMinute: 1000,
      apiRateLimitPerMinute: 1_000_000,
    });
    const d = node.devnet;
    // (the developer key, funded at genesis, sends nothing while the fuzz runs: not an insider)
    insiders = new Set([...d.chain.genesis.checkers, ...d.agents.map((a) => a.id)]);
    stopWatching = d.onBlock((e: BlockEvent) => {
      for (const a of e.applied)
        applied.push({ height: e.block.height, from: a.tx.tx.from, type: a.tx.type });
    });
  });
  afterAll(async () => {
    stopWatching?.();
    await node?.stop();
  });

  it(`${REQUESTS} requests derived from /openapi.json to every route: 0 5xx, errors as documented, the ledger changed only by its own actors`, async () => {
    const d = node.devnet;
    const spec = (await (await fetch(`${node.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, any>>;
      components: { schemas: { Error: Schema } };
    };
    const ops: Op[] = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, o]) => ({
        method: method.toUpperCase(),
        path,
        parameters: o.parameters ?? [],
        body: o.requestBody?.content?.['application/json']?.schema,
      })),
    );
    expect(ops.length).toBeGreaterThanOrEqual(30);

    // What a valid-looking value of a named field is: real addresses, ids and leases of this devnet.
    const ledger = d.chain.ledger;
    const addresses = [
      d.developer.address,
      ...ledger.containers().map((c) => c.id),
      ...d.chain.genesis.checkers,
      generateKeyPair().address,
    ];
    const leases = ledger.leases().map((l) => l.id);
    const txIds = (await d.chain.store.recentTxs(20)).map((t) => t.id);
    const hints: Record<string, fc.Arbitrary<unknown>> = {
      address: fc.constantFrom(...addresses),
      user: fc.constantFrom(...addresses),
      container: fc.constantFrom(...addresses),
      from: fc.oneof(fc.constantFrom(...addresses), fc.nat({ max: d.chain.head.height + 5 })),
      lease: fc.constantFrom('L1', ...leases),
      chainId: fc.constantFrom(d.chain.chainId, 'other-chain'),
      status: fc.constantFrom('online', 'offline', 'pending', 'open', 'closed'),
      id: fc.oneof(fc.constantFrom('L1', '0', ...leases, ...txIds), fc.nat({ max: 5 }).map(String)),
    };
    const arb = (s: Schema | undefined, name = '', depth = 0): fc.Arbitrary<unknown> => {
      if (!s || depth > 6) return fc.jsonValue({ maxDepth: 2 });
      if (s.const !== undefined) return fc.constant(s.const);
      if (s.enum) return fc.constantFrom(...(s.enum as unknown[]));
      const alts = s.anyOf ?? s.oneOf;
      if (alts) return fc.oneof(...(alts as Schema[]).map((a) => arb(a, name, depth + 1)));
      const hint = hints[name];
      switch (s.type) {
        case 'object': {
          const props = (s.properties ?? {}) as Record<string, Schema>;
          const required = new Set<string>(s.required ?? []);
          const keys = Object.keys(props);
          if (!keys.length)
            return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
          return fc.record(Object.fromEntries(keys.map((k) => [k, arb(props[k], k, depth + 1)])), {
            requiredKeys: keys.filter((k) => required.has(k)),
          });
        }
        case 'array':
          return fc.array(arb(s.items, name, depth + 1), {
            minLength: s.minItems ?? 0,
            maxLength: Math.min(s.maxItems ?? 4, 4),
          });
        case 'string': {
          const own = s.pattern
            ? fc.stringMatching(new RegExp(s.pattern))
            : fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 80) });
          return hint ? fc.oneof(hint.map(String), own) : own;
        }
        case 'integer':
          return hint && name === 'from'
            ? hint
            : fc.integer({ min: Math.max(s.minimum ?? -5, -1e6), max: Math.min(s.maximum ?? 1e6, 1e6) });
        case 'number':
          return fc.double({
            min: Math.max(s.minimum ?? -1e6, -1e6),
            max: Math.min(s.maximum ?? 1e6, 1e6),
            noNaN: true,
          });
        case 'boolean':
          return fc.boolean();
        default:
          return hint ?? fc.jsonValue({ maxDepth: 3 });
      }
    };
    // Invalid: what a stranger sends instead of what the schema says.
    const junk = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.string({ maxLength: 300 }),
      fc.constantFrom(-1, 1e308, '', '../../etc/passwd', '%00', '💥'.repeat(40), null, [], {}),
    );
    const mutate = (v: unknown): fc.Arbitrary<unknown> => {
      if (!v || typeof v !== 'object' || Array.isArray(v)) return junk;
      const keys = Object.keys(v);
      return fc.oneof(
        fc
          .record({ k: fc.string({ minLength: 1, maxLength: 12 }), j: junk })
          .map(({ k, j }) => ({ ...v, [k]: j })),
        ...(keys.length
          ? [
              fc.constantFrom(...keys).chain((k) => junk.map((j) => ({ ...v, [k]: j }))),
              fc.constantFrom(...keys).map((k) => {
                const { [k]: _drop, ...rest } = v as Record<string, unknown>;
                return rest;
              }),
            ]
          : []),
      );
    };
    const fresh = Array.from({ length: 8 }, () => generateKeyPair());
    const signed = (key: KeyPair, type: string, payload: unknown, nonce: number): SignedTx =>
      signTx(key, d.chain.chainId, type as TxType, nonce, payload as Record<string, unknown>);
    const request = (op: Op): fc.Arbitrary<Req> => {
      const param = (p: Op['parameters'][number]) => arb(p.schema, p.name);
      const pathArbs = op.parameters.filter((p) => p.in === 'path');
      const queryArbs = op.parameters.filter((p) => p.in === 'query');
      return fc
        .record({
          invalid: fc.boolean(),
          path: fc.tuple(
            ...pathArbs.map((p) =>
              fc.oneof({ weight: 4, arbitrary: param(p) }, { weight: 1, arbitrary: junk }),
            ),
          ),
          query: fc.tuple(...queryArbs.map((p) => fc.option(param(p), { nil: undefined }))),
          extraQuery: fc.option(
            fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 20 })),
            { freq: 8, nil: undefined },
          ),
          body: op.body ? arb(op.body) : fc.constant(undefined),
          how: fc.constantFrom('mutate', 'garbage', 'deep', 'content-type', 'signed-tx', 'signed-match'),
          key: fc.constantFrom(...fresh),
          nonce: fc.nat({ max: 3 }),
          txType: fc.constantFrom(...TX_TYPES),
          garbage: fc.oneof(
            fc.string({ maxLength: 200 }),
            fc.constantFrom('{', '{"a":', '[1,2', 'null', '"x"', '1e999', '{"__proto__":{"x":1}}'),
          ),
          depth: fc.integer({ min: 65, max: 20_000 }),
        })
        .chain((g) => {
          const body0 = g.body;
          let bodyArb: fc.Arbitrary<unknown> = fc.constant(body0);
          if (op.body && g.invalid && g.how === 'mutate') bodyArb = mutate(body0);
          return bodyArb.map((body) => {
            // any generated value as text (junk includes objects without a toString of their own)
            const asText = (v: unknown) =>
              v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
            let at = 0;
            const path = op.path.replace(/\{(\w+)\}/g, () => encodeURIComponent(asText(g.path[at++] ?? 'x')));
            const qs = new URLSearchParams();
            queryArbs.forEach((p, i) => {
              const v = g.query[i];
              if (v !== undefined) qs.set(p.name, asText(v));
            });
            if (g.invalid && g.extraQuery) qs.set(g.extraQuery[0], g.extraQuery[1]);
            const headers: Record<string, string> = {};
            let text: string | undefined;
            if (op.method === 'POST') {
              headers['content-type'] = 'application/json';
              text = JSON.stringify(body ?? null);
              if (op.path === '/v1/transactions' && g.how === 'signed-tx')
                // valid signature, from a key that holds nothing: the ledger must refuse it
                text = JSON.stringify(signed(g.key, g.txType, (body as any)?.payload ?? {}, g.nonce));
              if (op.path === '/v1/match' && g.how === 'signed-match' && body && typeof body === 'object') {
                const b = { ...(body as object), user: g.key.address };
                text = JSON.stringify(b);
                headers[SIGNATURE_HEADER] = signRequest(
                  g.key,
                  d.chain.chainId,
                  'POST',
                  '/v1/match',
                  b,
                  Date.now(),
                );
              }
              if (g.invalid && g.how === 'garbage') text = g.garbage;
              if (g.invalid && g.how === 'deep') text = '['.repeat(g.depth) + ']'.repeat(g.depth);
              if (g.invalid && g.how === 'content-type') headers['content-type'] = 'text/plain';
            }
            return {
              op,
              url: `${node.url}${path}${qs.size ? `?${qs}` : ''}`,
              method: op.method,
              headers,
              ...(text !== undefined ? { body: text } : {}),
              kind: g.invalid ? 'invalid' : 'valid-looking',
            } as Req;
          });
        });
    };
    // Every route gets its share; the sample is reproducible from the seed printed below.
    const perOp = Math.ceil(REQUESTS / ops.length);
    console.log(`[api-fuzz] seed ${SEED} (AETHIR_FUZZ_SEED=${SEED} reruns this one)`);
    const perRoute = ops.map((op, i) => fc.sample(request(op), { numRuns: perOp, seed: SEED + i }));
    // interleaved, so concurrent requests hit different routes
    const reqs = Array.from({ length: perOp }, (_, k) => perRoute.map((rs) => rs[k]!)).flat();

    const errorCodes = new Set(Object.keys(ErrorCodes));
    const counts = { requests: 0, '2xx': 0, '4xx': 0, '5xx': 0, other: 0, failed: 0 };
    const byStatus = new Map<number, number>();
    const bad: string[] = [];
    const heightBefore = d.chain.head.height;
    const appliedBefore = applied.length;
    const send = async (r: Req) => {
      const abort = new AbortController();
      let res: Response;
      try {
        res = await fetch(r.url, {
          method: r.method,
          headers: r.headers,
          body: r.body,
          signal: abort.signal,
        });
      } catch (e) {
        counts.failed++;
        bad.push(`${r.method} ${r.url}: no answer (${(e as Error).message})`);
        return;
      }
      counts.requests++;
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      const type = res.headers.get('content-type') ?? '';
      const where = `${r.method} ${r.url} (${r.kind}) -> ${res.status}`;
      if (res.status >= 500) {
        counts['5xx']++;
        bad.push(`${where}: ${(await res.text()).slice(0, 300)} body ${r.body?.slice(0, 200)}`);
        return;
      }
      if (res.status >= 200 && res.status < 300) {
        counts['2xx']++;
        // streams: their first bytes are enough
        if (
          type.startsWith('text/event-stream') ||
          (type.startsWith('application/x-ndjson') && r.url.includes('follow=true'))
        ) {
          abort.abort();
          return;
        }
        const text = await res.text();
        if (type.startsWith('application/json')) {
          try {
            JSON.parse(text);
          } catch {
            bad.push(`${where}: answered JSON that does not parse`);
          }
        } else if (!type.startsWith('text/') && !type.startsWith('application/x-ndjson'))
          bad.push(`${where}: undocumented content type ${type}`);
        return;
      }
      if (res.status >= 400) {
        counts['4xx']++;
        const text = await res.text();
        let e: any;
        try {
          e = JSON.parse(text).error;
        } catch {
          bad.push(`${where}: error that is not JSON: ${text.slice(0, 100)}`);
          return;
        }
        if (
          !e ||
          !errorCodes.has(e.code) ||
          typeof e.message !== 'string' ||
          typeof e.retryable !== 'boolean' ||
          (e.details !== undefined && (typeof e.details !== 'object' || e.details === null))
        )
          bad.push(`${where}: error not in the documented shape: ${text.slice(0, 200)}`);
        return;
      }
      counts.other++;
      bad.push(`${where}: unexpected status`);
    };
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < reqs.length) await send(reqs[next++]!);
      }),
    );
    const ms = Date.now() - started;
    const statuses = [...byStatus]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}:${n}`)
      .join(' ');
    console.log(
      `[api-fuzz] seed ${SEED}: ${counts.requests} requests to ${ops.length} routes in ${ms} ms (${Math.round((counts.requests * 1000) / ms)}/s, ${CONCURRENCY} at a time): 2xx ${counts['2xx']}, 4xx ${counts['4xx']}, 5xx ${counts['5xx']}, no answer ${counts.failed}; by status ${statuses}`,
    );
    expect(bad.slice(0, 10)).toEqual([]);
    expect(counts.requests).toBeGreaterThanOrEqual(REQUESTS);
    expect(counts['5xx']).toBe(0);
    // the node is alive and every block applied meanwhile holds only its own actors' transactions
    expect((await fetch(`${node.url}/health`)).status).toBe(200);
    const during = applied.slice(appliedBefore);
    expect(during.filter((a) => !insiders.has(a.from))).toEqual([]);
    console.log(
      `[api-fuzz] ledger: ${d.chain.head.height - heightBefore} blocks meanwhile, all ${during.length} transactions from the devnet's own actors (${[...new Set(during.map((a) => a.type))].join(', ') || 'none'})`,
    );
  }, 120_000);

  it('a reservation flood (unsigned, unfunded, over the per-account cap, from another address) does not keep an honest `rent --gpus 1` from a GPU', async () => {
    const d = node.devnet;
    const ledger = d.chain.ledger;
    const free = ledger
      .containers()
      .filter((c) => ledger.isServing(c))
      .reduce((a, c) => a + c.gpusTotal - c.gpusLeased, 0);
    const cap = d.config.maxReservationsPerAccount;
    expect(free).toBeGreaterThan(cap);
    // One funded attacker (escrow for far more than its reservations), many unfunded keys, and
    // unsigned requests naming the honest user: all from 127.0.0.2, all asking for 1 GPU.
    const attacker = generateKeyPair();
    const t = await cli(['transfer', attacker.address, '100'], env());
    expect(t.code, t.stderr).toBe(0);
    await new TxSender(attacker, new ApiClient(node.url)).send('escrow.deposit', {
      amount: 50n * 10n ** 18n,
    });
    const post = (body: object, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const text = JSON.stringify(body);
        const u = new URL(`${node.url}/v1/match`);
        const r = httpRequest(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            method: 'POST',
            localAddress: '127.0.0.2',
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(text),
              ...headers,
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        r.on('error', () => resolve(0));
        r.end(text);
      });
    const outcomes = new Map<string, number>();
    const count = (what: string, status: number) =>
      outcomes.set(`${what} ${status}`, (outcomes.get(`${what} ${status}`) ?? 0) + 1);
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        const unfunded = generateKeyPair();
        const signedBy = (k: KeyPair, b: object) => ({
          [SIGNATURE_HEADER]: signRequest(k, d.chain.chainId, 'POST', '/v1/match', b, Date.now()),
        });
        const honestUser = d.developer.address;
        const b1 = { user: honestUser, gpus: 1 };
        const b2 = { user: unfunded.address, gpus: 1 };
        const b3 = { user: attacker.address, gpus: 1 };
        const [s1, s2, s3] = await Promise.all([
          post(b1),
          post(b2, signedBy(unfunded, b2)),
          post(b3, signedBy(attacker, b3)),
        ]);
        count('unsigned', s1);
        count('unfunded', s2);
        count('funded attacker', s3);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const rent = await cli(['rent', '--gpus', '1', '--json', '--', 'sh', '-c', 'echo served'], env(), {
      timeoutMs: 90_000,
    });
    flooding = false;
    await flood;
    const summary = Object.fromEntries([...outcomes].sort());
    console.log(
      `[api-fuzz] reservation flood from 127.0.0.2 during an honest rent: ${JSON.stringify(summary)}`,
    );
    expect(rent.code, rent.stderr).toBe(0);
    expect(rent.stdout).toContain('served');
    // unsigned requests reserve nothing; unfunded keys are refused (402); the funded attacker holds
    // at most its cap and is refused past it (429)
    expect(outcomes.get('unfunded 402')).toBeGreaterThan(0);
    expect(
      [...outcomes.keys()].filter(
        (k) => k.startsWith('unfunded') && k !== 'unfunded 402' && k !== 'unfunded 429',
      ),
    ).toEqual([]);
    expect(outcomes.get('funded attacker 429')).toBeGreaterThan(0);
    expect(outcomes.get('funded attacker 200') ?? 0).toBeGreaterThanOrEqual(cap);
  }, 150_000);

  it("`aethir ledger verify --api URL` replays the node's blocks here and checks its proofs against the roots it computed", async () => {
    const d = node.devnet;
    const r = await cli(
      ['ledger', 'verify', '--api', node.url, '--json', '--account', d.developer.address],
      env(),
      {
        timeoutMs: 90_000,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.height).toBeGreaterThan(0);
    // the root it computed is the node's own at that height
    expect(report.root).toBe((await d.chain.store.block(report.height))!.root);
    expect(report.proofs).toEqual([
      expect.objectContaining({
        address: d.developer.address,
        ok: true,
        root: expect.stringMatching(/^[0-9a-f]{64}$/),
      }),
    ]);
    // a trusted genesis hash that is not the node's: refused
    const wrong = await cli(['ledger', 'verify', '--api', node.url, '--genesis-hash', '0'.repeat(64)], env());
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("the node's genesis hash is");
  }, 120_000);
});
