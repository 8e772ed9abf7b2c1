// The Aethir console: a single-page app over the node's public API (the CLI's API), kept live by
// the node's block events (GET /v1/events).
import '@xterm/xterm/css/xterm.css';
import 'uplot/dist/uPlot.min.css';
import '../style.css';
import { get, onBlock, type ContainerView } from './api.js';
import { classOf, containerList, legend, matches, worldMap, type Filters } from './map.js';
import { accountPage, chartsPage, containerPage, explorerPage, governancePage, sample } from './pages.js';
import { playPage } from './play.js';
import { rentPage } from './rent.js';
import { errorBox, h } from './ui.js';

const main = document.getElementById('main')!;
const NAV: Array<[string, string]> = [
  ['map', 'Network'],
  ['rent', 'Rent'],
  ['play', 'Play'],
  ['account', 'My account'],
  ['explorer', 'Explorer'],
  ['governance', 'Governance'],
  ['charts', 'Charts'],
];
document
  .getElementById('nav')!
  .replaceChildren(...NAV.map(([r, label]) => h('a', { href: `#/${r}`, 'data-route': r }, label)));

let containers: ContainerView[] = [];
const filters: Filters = { cls: '', region: '', status: '', isolation: '', maxPrice: '' };
let redraw: (() => void) | null = null;

function mapPage(root: HTMLElement) {
  const map = worldMap((id) => (location.hash = `#/container/${id}`));
  const count = h('p', { class: 'count', 'data-testid': 'map-count', 'aria-live': 'polite' });
  const select = (name: keyof Filters, label: string, options: string[]) =>
    h(
      'label',
      { class: 'field' },
      h('span', {}, label),
      h(
        'select',
        {
          name,
          onchange: (e: Event) => ((filters[name] = (e.target as HTMLSelectElement).value), redraw?.()),
        },
        h('option', { value: '' }, 'all'),
        ...options.map((o) => h('option', { value: o, selected: filters[name] === o }, o)),
      ),
    );
  const list = h('aside', { class: 'card side', 'aria-label': 'Containers' });
  const uniq = (f: (c: ContainerView) => string) => [...new Set(containers.map(f))].sort();
  const price = h('input', {
    name: 'maxPrice',
    inputmode: 'decimal',
    placeholder: 'any',
    value: filters.maxPrice,
    oninput: (e: Event) => ((filters.maxPrice = (e.target as HTMLInputElement).value), redraw?.()),
  });
  root.append(
    h(
      'form',
      { class: 'filters', 'aria-label': 'Filters', onsubmit: (e: Event) => e.preventDefault() },
      select('cls', 'GPU class', uniq(classOf)),
      select(
        'region',
        'Region',
        uniq((c) => c.location.region),
      ),
      h('label', { class: 'field' }, h('span', {}, 'Max ATH/h'), price),
      select('status', 'Status', ['online', 'offline', 'pending']),
      select('isolation', 'Isolation', ['sandbox', 'none']),
    ),
    count,
    h('div', { class: 'map-layout' }, h('div', { class: 'map-wrap' }, map.el, legend()), list),
  );
  redraw = () => {
    const shown = containers.filter((c) => matches(c, filters));
    map.update(shown);
    list.replaceChildren(containerList(shown));
    const gpus = shown.reduce((s, c) => s + c.gpusTotal, 0);
    const online = shown.filter((c) => c.status === 'online').length;
    count.textContent = `${shown.length} of ${containers.length} containers · ${online} online · ${gpus} GPUs`;
  };
  redraw();
}

async function refreshContainers() {
  containers = (await get('/v1/containers?limit=1000')).containers;
  sample(containers);
}

function route(): [string, string | undefined] {
  // a page's own query (#/play/arena?near=...) is the page's to read
  const [, r = 'map', arg] = location.hash.split('?')[0]!.split('/');
  return [r, arg ? decodeURIComponent(arg) : undefined];
}

let rendering = 0;
/** the user is filling in a form of the page (rent, account, explorer search) */
const typing = () =>
  main.contains(document.activeElement) && /^(INPUT|SELECT)$/.test(document.activeElement!.tagName);
async function render(live = false) {
  const [r, arg] = route();
  // pages with a form being filled in are not redrawn under the user
  if (live && (r === 'rent' || r === 'play' || (r !== 'map' && typing()))) return;
  const mine = ++rendering;
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>('#nav a')))
    a.toggleAttribute(
      'aria-current',
      a.dataset.route === r || (r === 'container' && a.dataset.route === 'map'),
    );
  if (r === 'map' && live && redraw) return redraw();
  const page = h('div', { class: `page page-${r}` });
  try {
    if (r === 'map') mapPage(page);
    else if (r === 'container' && arg) await containerPage(page, arg);
    else if (r === 'rent') await rentPage(page);
    else if (r === 'play') await playPage(page, arg);
    else if (r === 'account') await accountPage(page, () => void render());
    else if (r === 'explorer')
      await explorerPage(page, arg, (q) => (location.hash = `#/explorer/${encodeURIComponent(q)}`));
    else if (r === 'governance') await governancePage(page);
    else if (r === 'charts') await chartsPage(page, containers, main.clientWidth);
    else page.append(errorBox(new Error(`no page ${r}`)));
  } catch (e) {
    page.append(errorBox(e));
  }
  if (mine !== rendering) return;
  // nor when the user began typing while this redraw was being built (its input would replace theirs)
  if (live && r !== 'map' && typing()) return;
  if (r !== 'map') redraw = null;
  main.replaceChildren(page);
}

const height = document.getElementById('height')!;
onBlock(async (e) => {
  height.textContent = String(e.height);
  await refreshContainers();
  void render(true);
});
window.addEventListener('hashchange', () => {
  redraw = null;
  void render();
});
await refreshContainers();
await render();
