// Rent: the request form, the live answer of the matcher (or why nothing matches), then the
// lease signed in this browser and its output streaming in a terminal.
import type { Terminal } from '@xterm/xterm';
import { formatAth, parseAth } from '../../src/core/amount.js';
import { api, ApiError, chainId, get, logs, send } from './api.js';
import { signLeaseToken, type BrowserKey } from './keys.js';
import { heldOffer, openLease, receipts, showCostWhenClosed } from './session.js';
import { argv } from './logic.js';
import { ath, card, errorBox, field, formActions, h, link, myKey } from './ui.js';

export async function rentPage(root: HTMLElement) {
  const key = await myKey();
  const input = (attrs: Record<string, string>) => h('input', attrs);
  const gpus = input({ name: 'gpus', type: 'number', min: '0', max: '64', value: '0' });
  const model = input({ name: 'model', placeholder: 'any (e.g. H100)' });
  const region = input({ name: 'region', placeholder: 'any (e.g. eu, us-east)' });
  const command = input({ name: 'command', value: 'echo hello from the console', required: 'true' });
  const maxPrice = input({ name: 'maxPrice', placeholder: 'any', inputmode: 'decimal' });
  const duration = input({ name: 'duration', type: 'number', min: '1', value: '600' });
  const strategy = h(
    'select',
    { name: 'strategy' },
    ...['lowest-fee', 'balanced', 'best-experience'].map((s) => h('option', { value: s }, s)),
  );
  const answer = h('div', { class: 'answer', 'aria-live': 'polite', 'data-testid': 'rent-answer' });
  const submit = h('button', { type: 'submit', 'data-testid': 'rent-submit', disabled: !key }, 'Rent');
  const form = h(
    'form',
    { 'data-testid': 'rent-form', class: 'grid-form' },
    field('GPUs', gpus),
    field('GPU model', model),
    field('Region', region),
    field('Max price (ATH/h)', maxPrice),
    field('Duration (s)', duration, 'escrow covers this long; unused time is refunded'),
    field('Strategy', strategy),
    h('div', { class: 'wide' }, field('Command', command)),
    formActions(submit, !!key),
  );
  const output = h('div', { class: 'term', 'data-testid': 'rent-output' });
  const status = h('div', { class: 'lease-status', 'aria-live': 'polite' });
  root.append(card('Rent compute', form, answer), card('Output', status, output));

  const request = () => {
    const g = Number(gpus.value || 0);
    let price: string | undefined;
    if (maxPrice.value.trim()) price = parseAth(maxPrice.value).toString();
    return {
      user: key?.address ?? 'ath1' + '0'.repeat(40),
      gpus: g,
      ...(model.value.trim() ? { gpuModel: model.value.trim() } : {}),
      ...(region.value.trim() ? { region: region.value.trim().toLowerCase() } : {}),
      ...(price ? { maxPricePerHour: price } : {}),
      strategy: strategy.value,
      isolation: g > 0 ? 'sandbox' : 'any',
    };
  };

  // a relaxation the form can express, applied to its field
  const relaxer = (r: Relaxation): (() => void) | null => {
    const set = (el: HTMLInputElement, v: string) => () => {
      el.value = v;
      preview();
    };
    const v = r.value;
    if (r.constraint === 'maxPricePerHour' && typeof v === 'string')
      return set(maxPrice, formatAth(BigInt(v)));
    if (r.constraint === 'gpus' && typeof v === 'number') return set(gpus, String(v));
    if (r.constraint === 'region') return set(region, typeof v === 'string' ? v : '');
    if (r.constraint === 'gpuModels')
      return set(model, Array.isArray(v) && v.length === 1 ? String(v[0]) : '');
    return null;
  };

  // The live answer, as the user types: an unsigned match, a preview that reserves nothing (only a
  // match signed by its account reserves). Only a changed request asks again (debounced), and
  // renting takes the offer shown (the ledger checks its capacity when the lease opens).
  let timer: ReturnType<typeof setTimeout> | undefined;
  let seq = 0;
  let asked: string | null = null;
  let offer: { request: string; match: any } | null = null;
  const preview = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      let body: HTMLElement;
      try {
        const r = JSON.stringify(request());
        if (r === asked) return;
        asked = r;
        offer = null;
        const mine = ++seq;
        const m = await api('POST', '/v1/match', JSON.parse(r));
        if (mine !== seq) return;
        offer = { request: r, match: m };
        const c = m.container;
        body = h(
          'p',
          { class: 'ok' },
          h('strong', {}, 'Match: '),
          link(`#/container/${c.id}`, c.name),
          ` in ${c.location.city}, ${c.location.country} at ${ath(c.pricePerHour, 4)}/h — ${m.candidates} candidate${m.candidates === 1 ? '' : 's'}`,
        );
      } catch (e) {
        body = e instanceof ApiError && e.code === 'NO_MATCH' ? whyNot(e, relaxer) : errorBox(e);
      }
      answer.replaceChildren(body);
    }, 350);
  };
  form.addEventListener('input', preview);
  preview();

  const { Terminal } = await import('@xterm/xterm');
  const term = new Terminal({ convertEol: true, rows: 14, fontSize: 13, theme: { background: '#0b1020' } });
  term.open(output);
  // as many columns as the box holds (a phone's width included)
  new ResizeObserver(() => {
    const w = output.clientWidth - 12;
    if (w > 0) term.resize(Math.max(20, Math.floor(w / 7.8)), 14);
  }).observe(output);
  term.write('\x1b[2mThe workload’s output appears here.\x1b[0m\r\n');

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!key) return;
    submit.disabled = true;
    try {
      const req = request();
      const held = heldOffer(offer, req);
      offer = null;
      asked = null; // the offer is taken: the next answer asks again
      await rent(key, req, held, argv(command.value), Number(duration.value), term, status);
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      submit.disabled = false;
      preview();
    }
  });
}

type Relaxation = { text: string; constraint: string; value: unknown };

/** NO_MATCH explained: what ruled the containers out, and each relaxation that would match (a button applies it). */
function whyNot(e: ApiError, apply: (r: Relaxation) => (() => void) | null): HTMLElement {
  const d = e.details ?? {};
  const ruled = Object.entries((d.ruledOut ?? {}) as Record<string, number>);
  const relax = (d.relaxations ?? []) as Relaxation[];
  return h(
    'div',
    { class: 'why-not', 'data-testid': 'why-not' },
    h('p', {}, h('strong', {}, 'No match. '), e.message),
    ruled.length ? h('ul', { class: 'chips' }, ...ruled.map(([k, n]) => h('li', {}, `${n} ${k}`))) : null,
    relax.length
      ? h(
          'div',
          {},
          h('p', {}, 'Would match:'),
          h(
            'ul',
            { class: 'relax' },
            ...relax.map((r) => {
              const fix = apply(r);
              return h(
                'li',
                {},
                `relax ${r.constraint}: ${r.text} `,
                fix
                  ? h(
                      'button',
                      { type: 'button', class: 'small', 'data-testid': 'relax', onclick: fix },
                      'Use this',
                    )
                  : null,
              );
            }),
          ),
        )
      : null,
  );
}

async function rent(
  key: BrowserKey,
  req: ReturnType<() => any>,
  /** the offer the user saw (a preview); null: match now */
  held: any,
  command: string[],
  maxDurationSec: number,
  term: Terminal,
  status: HTMLElement,
) {
  if (!command.length) throw new ApiError('INVALID_ARGUMENT', 'give a command to run');
  term.reset();
  const say = (s: string) => term.write(`\x1b[2m${s}\x1b[0m\r\n`);
  const m = held ?? (await api('POST', '/v1/match', req));
  const c = m.container;
  say(`matched ${c.name} in ${c.location.city}, ${c.location.country} at ${ath(c.pricePerHour, 4)}/h`);
  const opened = await openLease(key, m, req, { command }, maxDurationSec, say);
  const leaseId = opened.leaseId;
  say(`lease ${leaseId} opened, ${ath(opened.escrow)} in escrow`);
  const view = await get(`/v1/leases/${leaseId}`);
  const token = await signLeaseToken(key, await chainId(), leaseId);
  const stop = h('button', { type: 'button', class: 'danger', 'data-testid': 'rent-stop' }, 'Stop');
  const state = h('span', { 'data-testid': 'lease-state' }, 'running');
  status.replaceChildren(
    h('p', {}, 'Lease ', link(`#/explorer/${leaseId}`, leaseId), ' — ', state, ' ', stop),
  );
  if (typeof view.endpoint === 'string' && /^https?:\/\//.test(view.endpoint))
    status.append(
      h(
        'p',
        {},
        'Endpoint: ',
        h(
          'a',
          { href: `${view.endpoint}?token=${encodeURIComponent(token)}`, target: '_blank', rel: 'noopener' },
          view.endpoint,
        ),
      ),
    );
  stop.addEventListener('click', () => {
    stop.setAttribute('disabled', '');
    send(key, 'lease.close', { lease: leaseId, reason: 'cancelled by user' }).catch((e) =>
      status.append(errorBox(e)),
    );
  });

  const { send: receipt, stop: stopReceipts } = receipts(key, leaseId, view.openedAt);
  const abort = new AbortController();
  let first = true;
  try {
    for await (const e of logs(leaseId, token, abort.signal)) {
      if (e.type === 'exit') {
        await receipt();
        state.textContent = `exited ${e.exitCode ?? e.signal ?? ''} (${e.reason})`;
        say(`── exit ${e.exitCode ?? e.signal} (${e.reason})`);
        break;
      }
      if (first) {
        first = false;
        void receipt();
      }
      term.write(e.type === 'stderr' ? `\x1b[31m${e.data}\x1b[0m` : e.data);
    }
  } finally {
    stopReceipts();
    abort.abort();
    stop.setAttribute('disabled', '');
  }
  // what it cost, once the container has closed the lease with the last receipt
  await showCostWhenClosed(leaseId, status);
}
