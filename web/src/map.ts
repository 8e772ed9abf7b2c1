// The network map: every container on a world map (d3-geo, Natural Earth land from world-atlas,
// bundled), sized by GPUs, filled by GPU class, ringed by status; filters and a live count.
import { geoNaturalEarth1, geoPath } from 'd3-geo';
import { feature } from 'topojson-client';
import land110 from 'world-atlas/land-110m.json' with { type: 'json' };
import { gpuClass } from '../../src/ledger/gpu-class.js';
import type { ContainerView } from './api.js';
import { ath, h } from './ui.js';

export const CLASS_COLORS: Record<string, string> = {
  h200: '#b86bff',
  h100: '#7c5cff',
  a100: '#3d8bfd',
  l40s: '#1fb5a8',
  rtx4090: '#f5a524',
  rtx3090: '#f07b3f',
  other: '#9aa4b2',
  cpu: '#5b6b7f',
};
export const classOf = (c: ContainerView) => (c.spec.gpus.length ? gpuClass(c.spec.gpus[0]!.model) : 'cpu');
export const isolationOf = (c: ContainerView) => c.spec.isolation ?? 'none';

const W = 960;
const HGT = 500;
const projection = geoNaturalEarth1().fitSize([W, HGT], { type: 'Sphere' });
const path = geoPath(projection);
const landPath = path(feature(land110 as any, (land110 as any).objects.land) as any) ?? '';

export interface Filters {
  cls: string;
  region: string;
  status: string;
  isolation: string;
  maxPrice: string;
}

export function matches(c: ContainerView, f: Filters): boolean {
  if (f.cls && classOf(c) !== f.cls) return false;
  if (f.region && c.location.region !== f.region && !c.location.region.startsWith(f.region + '-'))
    return false;
  if (f.status && c.status !== f.status) return false;
  if (f.isolation && isolationOf(c) !== f.isolation) return false;
  if (f.maxPrice && Number(BigInt(c.pricePerHour)) / 1e18 > Number(f.maxPrice)) return false;
  return true;
}

/** Draws the map into `host`; `update` redraws the marks (containers change, filters change). */
export function worldMap(onOpen: (id: string) => void) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  // from the Arctic to the Southern Ocean: Antarctica hosts no containers
  const top = Math.max(0, projection([0, 84])![1]);
  const bottom = Math.min(HGT, projection([0, -58])![1]);
  svg.setAttribute('viewBox', `0 ${top.toFixed(0)} ${W} ${(bottom - top).toFixed(0)}`);
  svg.setAttribute('role', 'group');
  svg.setAttribute('aria-label', 'World map of the containers');
  svg.dataset.testid = 'map';
  const ns = (t: string) => document.createElementNS('http://www.w3.org/2000/svg', t);
  const sphere = ns('path');
  sphere.setAttribute('d', path({ type: 'Sphere' }) ?? '');
  sphere.setAttribute('class', 'sphere');
  const landEl = ns('path');
  landEl.setAttribute('d', landPath);
  landEl.setAttribute('class', 'land');
  const marks = ns('g');
  svg.append(sphere, landEl, marks);

  const update = (cs: ContainerView[]) => {
    marks.replaceChildren();
    // containers in one city fan out around it so each stays visible and clickable
    const seen = new Map<string, number>();
    const sorted = [...cs].sort((a, b) => b.gpusTotal - a.gpusTotal);
    for (const c of sorted) {
      const p = projection([c.location.lon, c.location.lat]);
      if (!p) continue;
      const k = `${Math.round(p[0] / 6)}:${Math.round(p[1] / 6)}`;
      const n = seen.get(k) ?? 0;
      seen.set(k, n + 1);
      const angle = n * 2.4;
      const dist = n ? 7 + 3 * Math.sqrt(n) : 0;
      const x = p[0] + Math.cos(angle) * dist;
      const y = p[1] + Math.sin(angle) * dist;
      const r = 5 + 3 * Math.sqrt(c.gpusTotal);
      const a = ns('a') as SVGAElement;
      a.setAttribute('href', `#/container/${c.id}`);
      a.dataset.testid = 'map-container';
      a.dataset.id = c.id;
      a.setAttribute(
        'aria-label',
        `${c.name}, ${c.location.city}: ${c.gpusTotal} GPU${c.gpusTotal === 1 ? '' : 's'} ${classOf(c)}, ${c.status}, ${ath(c.pricePerHour, 3)}/h`,
      );
      a.addEventListener('click', (e) => {
        e.preventDefault();
        onOpen(c.id);
      });
      const circle = ns('circle');
      circle.setAttribute('cx', x.toFixed(1));
      circle.setAttribute('cy', y.toFixed(1));
      circle.setAttribute('r', r.toFixed(1));
      circle.setAttribute('fill', CLASS_COLORS[classOf(c)]!);
      circle.setAttribute('class', `mark status-${c.status}${c.gpusLeased ? ' busy' : ''}`);
      const title = ns('title');
      title.textContent = a.getAttribute('aria-label');
      a.append(circle, title);
      marks.append(a);
    }
  };
  return { el: svg as unknown as HTMLElement, update };
}

export function legend(): HTMLElement {
  return h(
    'ul',
    { class: 'legend', 'aria-label': 'GPU classes' },
    ...Object.entries(CLASS_COLORS).map(([k, col]) =>
      h('li', {}, h('span', { class: 'dot', style: `background:${col}` }), k),
    ),
    h('li', {}, h('span', { class: 'dot ring' }), 'offline'),
  );
}

/** The containers shown, as a list beside the map (the biggest first). */
export function containerList(cs: ContainerView[], most = 40): HTMLElement {
  const sorted = [...cs].sort((a, b) => b.gpusTotal - a.gpusTotal || a.name.localeCompare(b.name));
  const gpuText = (c: ContainerView) =>
    c.spec.gpus.length
      ? `${c.gpusTotal}× ${c.spec.gpus[0]!.model.replace(/^(NVIDIA\s+)?(GeForce\s+)?/, '').replace(/\s+\d+\s*GB.*$/i, '')}`
      : 'CPU';
  return h(
    'ul',
    { class: 'clist', 'aria-label': 'Containers shown' },
    ...sorted
      .slice(0, most)
      .map((c) =>
        h(
          'li',
          {},
          h('span', { class: 'dot', style: `background:${CLASS_COLORS[classOf(c)]}` }),
          h(
            'div',
            {},
            h('a', { href: `#/container/${c.id}` }, c.name),
            h('small', {}, `${c.location.city} · ${gpuText(c)} · ${ath(c.pricePerHour, 3)}/h`),
          ),
          h('span', { class: `badge status-${c.status}` }, c.status),
        ),
      ),
    sorted.length > most ? h('li', { class: 'more' }, `and ${sorted.length - most} more`) : null,
  );
}
