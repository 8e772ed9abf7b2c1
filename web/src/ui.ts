// Small DOM helpers shared by the pages.
import { formatAth } from '../../src/core/amount.js';
import { keyFromSecret, type BrowserKey } from './keys.js';

type Child = Node | string | number | null | undefined | false;
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | ((e: Event) => void) | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** Units to "1.25 ATH" (6 decimals at most, tiny amounts in scientific notation). */
export function ath(units: string | bigint, decimals = 6): string {
  const v = BigInt(units);
  if (v > 0n && v < 10n ** BigInt(18 - decimals)) return `${(Number(v) / 1e18).toExponential(2)} ATH`;
  const [whole, frac] = formatAth(v, decimals).split('.');
  return `${BigInt(whole!).toLocaleString('en-US')}${frac ? '.' + frac : ''} ATH`;
}
export const short = (a: string) => (a.length > 16 ? `${a.slice(0, 10)}…${a.slice(-4)}` : a);
export const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
export const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? '—' : `${Math.round(x * 100)}%`;

export function table(head: string[], rows: Node[][], empty: string, testid?: string): HTMLElement {
  const t = h('table', testid ? { 'data-testid': testid } : {});
  t.append(h('thead', {}, h('tr', {}, ...head.map((x) => h('th', { scope: 'col' }, x)))));
  const body = h('tbody');
  if (!rows.length) body.append(h('tr', {}, h('td', { colspan: head.length, class: 'empty' }, empty)));
  for (const r of rows) body.append(h('tr', {}, ...r.map((c) => h('td', {}, c))));
  t.append(body);
  return h('div', { class: 'scroll' }, t);
}
export const txt = (s: string | number) => document.createTextNode(String(s));
export const link = (href: string, text: string, cls?: string) => h('a', { href, class: cls }, text);
export const badge = (text: string, kind: string) => h('span', { class: `badge ${kind}` }, text);

export function card(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export function dl(pairs: Array<[string, Child]>): HTMLElement {
  const d = h('dl');
  for (const [k, v] of pairs) d.append(h('dt', {}, k), h('dd', {}, v));
  return d;
}

export function errorBox(e: unknown): HTMLElement {
  const err = e as { code?: string; message?: string };
  return h('p', { class: 'error', role: 'alert' }, err.code ? `${err.code}: ` : '', err.message ?? String(e));
}

// The user's key: kept in this browser's localStorage (a devnet console; see the account page).
const STORE = 'aethir.secretKey';
let current: Promise<BrowserKey | null> | null = null;
export function myKey(): Promise<BrowserKey | null> {
  if (!current) {
    const s = localStorage.getItem(STORE);
    current = s ? keyFromSecret(s) : Promise.resolve(null);
  }
  return current;
}
export async function setMyKey(secret: string | null): Promise<BrowserKey | null> {
  if (secret === null) {
    localStorage.removeItem(STORE);
    current = Promise.resolve(null);
    return null;
  }
  const k = await keyFromSecret(secret);
  localStorage.setItem(STORE, k.secretKey);
  current = Promise.resolve(k);
  return k;
}

/** A labelled form field (with a hint under it). */
export function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', {}, hint) : null);
}

/** A form's submit row: the button, or where to get a key first when the browser has none. */
export function formActions(submit: HTMLElement, hasKey: boolean): HTMLElement {
  return h(
    'div',
    { class: 'wide actions' },
    submit,
    hasKey ? null : h('span', {}, 'Create or import a key on ', link('#/account', 'My account'), ' first.'),
  );
}
