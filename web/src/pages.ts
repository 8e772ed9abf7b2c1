// Container, account, explorer, governance and charts pages.
import { parseAth } from '../../src/core/amount.js';
import { get, send, type ContainerView } from './api.js';
import { newSecret } from './keys.js';
import { leasedOverTime } from './logic.js';
import { CLASS_COLORS, classOf, isolationOf } from './map.js';
import {
  ath,
  badge,
  card,
  dl,
  errorBox,
  h,
  link,
  myKey,
  pct,
  setMyKey,
  short,
  table,
  txt,
  when,
} from './ui.js';

export async function containerPage(root: HTMLElement, id: string) {
  const c: ContainerView = await get(`/v1/containers/${id}`);
  const leases = (await get(`/v1/leases?container=${id}&limit=20`)).leases as any[];
  const gpus = c.spec.gpus;
  root.append(
    h(
      'header',
      { class: 'page-head' },
      h('h1', {}, c.name),
      badge(c.status, `status-${c.status}`),
      badge(classOf(c), 'cls'),
      badge(`isolation: ${isolationOf(c)}`, isolationOf(c) === 'sandbox' ? 'good' : 'warn'),
      c.simulated ? badge('simulated', 'muted') : null,
    ),
    h(
      'div',
      { class: 'cards' },
      card(
        'Spec',
        dl([
          ['Source', c.spec.source],
          [
            'GPUs',
            gpus.length
              ? Object.entries(
                  gpus.reduce<Record<string, number>>((n, g) => {
                    const k = `${g.model} (${Math.round(g.memoryMiB / 1024)} GiB)`;
                    n[k] = (n[k] ?? 0) + 1;
                    return n;
                  }, {}),
                )
                  .map(([k, n]) => `${n}× ${k}`)
                  .join(', ')
              : 'none',
          ],
          ['CPU', `${c.spec.cpu.model}, ${c.spec.cpu.cores} cores`],
          ['Memory', `${Math.round(c.spec.memoryMiB / 1024)} GiB`],
          ['Location', `${c.location.city}, ${c.location.country} (${c.location.region})`],
          ['Address', h('code', {}, c.id)],
        ]),
      ),
      card(
        'Price and stake',
        dl([
          ['Price', `${ath(c.pricePerHour, 4)}/h per GPU`],
          ['Stake', `${ath(c.stake, 2)} of ${ath(c.requiredStake, 2)} required`],
          ['Staked', c.staked ? 'yes' : 'no — not matched'],
          ['Free GPUs', `${c.gpusFree} of ${c.gpusTotal}`],
          ['Earned', ath(c.earned)],
          ['Slashed', ath(c.slashed)],
        ]),
      ),
      card(
        'Reputation',
        h('p', { class: 'big' }, c.reputation.score.toFixed(2)),
        dl([
          ['Uptime', pct(c.reputation.uptime)],
          ['Capacity checks passed', pct(c.reputation.capacityPassRate)],
          ['Location checks passed', pct(c.reputation.locationPassRate)],
          ['QoS', pct(c.reputation.qos)],
          ['Slashes', c.reputation.slashes],
        ]),
      ),
    ),
    card(
      'Checks',
      table(
        ['Check', 'Verdict', 'When', 'Reason'],
        Object.entries(c.checks).map(([k, v]) => [
          txt(k),
          badge(v!.ok ? 'pass' : 'fail', v!.ok ? 'good' : 'bad'),
          txt(when(v!.at)),
          txt(v!.reason),
        ]),
        'no check decided yet',
      ),
    ),
    card(
      'Incidents',
      table(
        ['When', 'Check', 'Reason', 'Slashed', 'Leases closed'],
        c.incidents.map((i) => [
          txt(when(i.at)),
          txt(i.check),
          txt(i.reason),
          txt(ath(i.slashed)),
          txt(i.leases.length),
        ]),
        'none',
      ),
    ),
    card('Leases', leaseTable(leases)),
  );
}

function leaseTable(leases: any[], testid?: string) {
  return table(
    ['Lease', 'Status', 'User', 'Opened', 'Cost so far', 'Workload'],
    leases.map((l) => [
      link(`#/explorer/${l.id}`, l.id),
      badge(l.status, `status-${l.status}`),
      link(`#/explorer/${l.user}`, short(l.user)),
      txt(when(l.openedAt)),
      txt(ath(l.charged)),
      h('code', {}, (l.workload.command ?? [l.workload.app]).join(' ')),
    ]),
    'no leases',
    testid,
  );
}

export async function accountPage(root: HTMLElement, rerender: () => void) {
  const key = await myKey();
  const secret = h('input', {
    id: 'import-secret',
    type: 'password',
    autocomplete: 'off',
    placeholder: '64 hex characters',
  });
  // a key replaced or forgotten is gone with its funds, unless its secret was kept
  const replaceKey = async (had: boolean, next: string | null) => {
    if (
      had &&
      !confirm(
        'This browser forgets your current key. Keep its secret (Show secret) if it holds funds. Go on?',
      )
    )
      return;
    await setMyKey(next);
    rerender();
  };
  const keyCard = card(
    'Your key',
    key
      ? h(
          'p',
          {},
          'Address ',
          h('code', { 'data-testid': 'my-address' }, key.address),
          ` (signs with ${key.impl === 'webcrypto' ? 'WebCrypto' : '@noble/ed25519'})`,
        )
      : h('p', {}, 'No key in this browser yet.'),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', onclick: () => replaceKey(key !== null, newSecret()) }, 'New key'),
      key
        ? h(
            'button',
            { type: 'button', class: 'danger', onclick: () => replaceKey(true, null) },
            'Forget key',
          )
        : null,
    ),
    key
      ? h('details', {}, h('summary', {}, 'Show secret'), h('code', { class: 'secret' }, key.secretKey))
      : null,
    h(
      'form',
      {
        class: 'inline',
        'data-testid': 'import-key',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await setMyKey(secret.value);
            rerender();
          } catch (err) {
            keyCard.append(errorBox(err));
          }
        },
      },
      h('label', { for: 'import-secret' }, 'Import a secret key'),
      secret,
      h('button', { type: 'submit' }, 'Import'),
    ),
    h(
      'p',
      { class: 'hint' },
      'The secret stays in this browser (localStorage). A new key has no funds: on a devnet, import the developer key’s secret from $AETHIR_HOME/keys/developer.json.',
    ),
  );
  root.append(keyCard);
  if (!key) return;
  const [a, lock, leases] = await Promise.all([
    get(`/v1/accounts/${key.address}`),
    get(`/v1/accounts/${key.address}/lock`),
    get(`/v1/leases?user=${key.address}&limit=50`),
  ]);
  root.append(
    h(
      'div',
      { class: 'cards' },
      card('Balance', h('p', { class: 'big', 'data-testid': 'balance' }, ath(a.balance, 4))),
      card('Escrow', h('p', { class: 'big' }, ath(a.escrow, 4))),
      card(
        'Vesting',
        dl([
          ['Locked', ath(a.vesting.locked)],
          ['Claimable', ath(a.vesting.claimable)],
        ]),
      ),
      card(
        'Governance lock',
        dl([
          ['Locked', ath(lock.amount, 2)],
          ['Until', lock.end ? when(lock.end) : '—'],
          ['Weight', ath(lock.weight, 2)],
        ]),
      ),
    ),
    card('My leases', leaseTable(leases.leases, 'my-leases')),
  );
}

export async function explorerPage(root: HTMLElement, query: string | undefined, go: (q: string) => void) {
  const search = h('input', {
    type: 'search',
    'data-testid': 'explorer-search',
    'aria-label': 'Address, lease or transaction id',
    placeholder: 'address, lease id or transaction id',
    value: query ?? '',
  });
  root.append(
    h(
      'form',
      {
        class: 'search',
        role: 'search',
        onsubmit: (e: Event) => (e.preventDefault(), go(search.value.trim())),
      },
      search,
      h('button', { type: 'submit' }, 'Search'),
    ),
  );
  const q = query?.trim();
  if (q) {
    try {
      if (/^[0-9a-f]{64}$/.test(q)) root.append(txCard(await get(`/v1/transactions/${q}`)));
      else if (/^ath1[0-9a-f]{40}$/.test(q)) {
        const [a, txs] = await Promise.all([
          get(`/v1/accounts/${q}`),
          get(`/v1/transactions?from=${q}&limit=50`),
        ]);
        root.append(
          card(
            'Account',
            dl([
              ['Address', h('code', {}, q)],
              ['Balance', ath(a.balance, 4)],
              ['Escrow', ath(a.escrow, 4)],
              ['Nonce', a.nonce],
            ]),
          ),
          card('Transactions from it', txTable(txs.transactions)),
        );
        const c = await get(`/v1/containers/${q}`).catch(() => null);
        if (c) root.append(h('p', {}, 'This address is a container: ', link(`#/container/${q}`, c.name)));
      } else {
        const l = await get(`/v1/leases/${encodeURIComponent(q)}`);
        root.append(
          card(
            `Lease ${l.id}`,
            dl(
              Object.entries(l).map(([k, v]) => [
                k,
                h('code', {}, typeof v === 'object' ? JSON.stringify(v) : String(v)),
              ]),
            ),
          ),
        );
      }
    } catch (e) {
      root.append(errorBox(e));
    }
    return;
  }
  const [blocks, txs] = await Promise.all([get('/v1/blocks?limit=15'), get('/v1/transactions?limit=30')]);
  root.append(
    h(
      'div',
      { class: 'cards two' },
      card(
        'Blocks',
        table(
          ['Height', 'Time', 'Transactions'],
          blocks.blocks.map((b: any) => [
            txt(b.height),
            txt(when(b.time)),
            txt(b.txs.map((t: any) => t.type).join(', ') || '—'),
          ]),
          'no blocks',
        ),
      ),
      card('Transactions', txTable(txs.transactions)),
    ),
  );
}

function txTable(txs: any[]) {
  return table(
    ['Id', 'Type', 'From', 'Height'],
    txs.map((t) => [
      link(`#/explorer/${t.id}`, short(t.id)),
      txt(t.tx.type),
      link(`#/explorer/${t.tx.from}`, short(t.tx.from)),
      txt(t.height),
    ]),
    'none',
  );
}

function txCard(t: any) {
  const { payload, sig: _sig, ...head } = t.tx;
  return card(
    `Transaction ${short(t.id)}`,
    dl(Object.entries(head).map(([k, v]) => [k, h('code', {}, String(v))])),
    h('h3', {}, 'Payload'),
    h('pre', { 'data-testid': 'tx-payload' }, JSON.stringify(payload, null, 2)),
    h('h3', {}, 'Outcome'),
    h(
      'p',
      { 'data-testid': 'tx-outcome' },
      'Accepted: transaction ',
      String(t.index),
      ' of block ',
      String(t.height),
      `, ${when(t.time)} (a rejected transaction never enters a block).`,
    ),
  );
}

export async function governancePage(root: HTMLElement) {
  const key = await myKey();
  const [dao, props, mine] = await Promise.all([
    get('/v1/dao'),
    get('/v1/dao/proposals'),
    key ? get(`/v1/accounts/${key.address}/lock`) : null,
  ]);
  const amount = h('input', { id: 'lock-amount', inputmode: 'decimal', value: '1000' });
  const days = h('input', { id: 'lock-days', type: 'number', min: '1', value: '365' });
  const note = h('div', { 'aria-live': 'polite' });
  root.append(
    h(
      'div',
      { class: 'cards' },
      card(
        'Voting weight',
        h('p', { class: 'big' }, ath(dao.totalWeight, 0)),
        h(
          'p',
          {},
          `quorum ${dao.params.quorumBps / 100}% · voting ${Math.round(dao.params.votingPeriodMs / 3_600_000)} h`,
        ),
      ),
      card(
        'Lock ATH to vote',
        key
          ? h(
              'form',
              {
                class: 'inline',
                'data-testid': 'lock-form',
                onsubmit: async (e: Event) => {
                  e.preventDefault();
                  try {
                    const until = Date.now() + Number(days.value) * 86_400_000;
                    await send(key, 'dao.lock', { amount: parseAth(amount.value), until });
                    note.replaceChildren(h('p', { class: 'ok' }, 'Locked.'));
                  } catch (err) {
                    note.replaceChildren(errorBox(err));
                  }
                },
              },
              h('label', { for: 'lock-amount' }, 'ATH'),
              amount,
              h('label', { for: 'lock-days' }, 'days'),
              days,
              h('button', { type: 'submit' }, 'Lock'),
            )
          : h('p', {}, 'Create or import a key on ', link('#/account', 'My account'), ' to lock and vote.'),
        mine
          ? h(
              'p',
              { 'data-testid': 'my-lock' },
              BigInt(mine.amount) > 0n
                ? `Your lock: ${ath(mine.amount, 2)} until ${when(mine.end)} — weight ${ath(mine.weight, 2)}`
                : 'You have no lock yet.',
            )
          : null,
        note,
      ),
    ),
  );
  for (const p of props.proposals) {
    const t = p.tally;
    const total = BigInt(t.for) + BigInt(t.against) + BigInt(t.abstain) || 1n;
    const bar = (k: string) =>
      h('span', { class: `bar ${k}`, style: `width:${Number((BigInt(t[k]) * 1000n) / total) / 10}%` });
    root.append(
      h(
        'section',
        { class: 'card proposal', 'data-testid': 'proposal', 'data-id': p.id },
        h('h2', {}, `#${p.id} ${p.title}`, ' ', badge(p.phase, `phase-${p.phase}`)),
        h(
          'div',
          {
            class: 'tally',
            role: 'img',
            'aria-label': `for ${ath(t.for, 0)}, against ${ath(t.against, 0)}, abstain ${ath(t.abstain, 0)}`,
          },
          bar('for'),
          bar('against'),
          bar('abstain'),
        ),
        dl([
          ['For', h('span', { 'data-testid': 'tally-for' }, ath(t.for, 2))],
          ['Against', h('span', { 'data-testid': 'tally-against' }, ath(t.against, 2))],
          ['Abstain', ath(t.abstain, 2)],
          ['Quorum', `${ath(p.turnout, 0)} of ${ath(p.quorum, 0)}`],
          ['Voting ends', when(p.votingEnds)],
          ['Changes', p.changes.map((c: any) => `${c.parameter}: ${c.from} → ${c.to}`).join('; ') || '—'],
        ]),
        key && p.phase === 'voting'
          ? h(
              'div',
              { class: 'actions' },
              ...(['for', 'against', 'abstain'] as const).map((choice) =>
                h(
                  'button',
                  {
                    type: 'button',
                    'data-testid': `vote-${choice}`,
                    onclick: async (e: Event) => {
                      const b = e.currentTarget as HTMLButtonElement;
                      b.disabled = true;
                      try {
                        await send(key, 'dao.vote', { proposal: p.id, choice });
                      } catch (err) {
                        b.parentElement!.append(errorBox(err));
                      }
                      b.disabled = false;
                    },
                  },
                  `Vote ${choice}`,
                ),
              ),
            )
          : null,
      ),
    );
  }
  if (!props.proposals.length) root.append(card('Proposals', h('p', {}, 'No proposals yet.')));
}

// Charts: GPUs online and leased, sampled at each block since this page opened; prices now.
const samples: { t: number[]; online: number[]; leased: number[] } = { t: [], online: [], leased: [] };
export function sample(cs: ContainerView[]) {
  samples.t.push(Date.now() / 1000);
  samples.online.push(cs.filter((c) => c.status === 'online').reduce((s, c) => s + c.gpusTotal, 0));
  samples.leased.push(cs.reduce((s, c) => s + c.gpusLeased, 0));
  if (samples.t.length > 2000) for (const a of Object.values(samples)) a.shift();
}

export async function chartsPage(root: HTMLElement, cs: ContainerView[], available: number) {
  const { default: uPlot } = await import('uplot');
  const width = Math.max(260, Math.min(1200, available - 40));
  const history = leasedOverTime((await get('/v1/leases?limit=1000')).leases, Date.now());
  const leaseCard = card('Leased (GPUs, CPU leases count one), from the ledger');
  const gpuCard = card('GPUs online and leased, live since this page opened');
  const priceCard = card('Mean price per GPU-hour (ATH) by class and region');
  root.append(leaseCard, gpuCard, priceCard);
  new uPlot(
    {
      width,
      height: 200,
      series: [
        {},
        {
          label: 'leased',
          stroke: '#f5a524',
          fill: 'rgba(245,165,36,0.15)',
          width: 2,
          paths: uPlot.paths.stepped!({ align: 1 }),
        },
      ],
      axes: [{ stroke: '#9aa4b2' }, { stroke: '#9aa4b2' }],
    },
    [history.t, history.v],
    leaseCard,
  );
  new uPlot(
    {
      width,
      height: 260,
      series: [
        {},
        { label: 'online', stroke: '#3d8bfd', width: 2 },
        { label: 'leased', stroke: '#f5a524', width: 2 },
      ],
      axes: [{ stroke: '#9aa4b2' }, { stroke: '#9aa4b2' }],
    },
    [samples.t, samples.online, samples.leased],
    gpuCard,
  );
  const groups = new Map<string, number[]>();
  for (const c of cs) {
    const k = `${classOf(c)} · ${c.location.region}`;
    groups.set(k, [...(groups.get(k) ?? []), Number(BigInt(c.pricePerHour)) / 1e18]);
  }
  const rows = [...groups.entries()]
    .map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length] as const)
    .sort((a, b) => b[1] - a[1]);
  const max = Math.max(...rows.map((r) => r[1]), 1e-9);
  priceCard.append(
    h(
      'ul',
      { class: 'bars', 'data-testid': 'price-chart' },
      ...rows.map(([k, v]) =>
        h(
          'li',
          {},
          h('span', { class: 'label' }, k),
          h(
            'span',
            { class: 'barwrap' },
            h('span', {
              class: 'bar',
              style: `width:${(v / max) * 100}%;background:${CLASS_COLORS[k.split(' ')[0]!]}`,
            }),
          ),
          h('span', { class: 'num' }, v.toFixed(4)),
        ),
      ),
    ),
  );
}
