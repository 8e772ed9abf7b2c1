import { describe, expect, it } from 'vitest';
import {
  CITIES,
  findCity,
  isAethirError,
  nearestCity,
  regionFor,
  resolvePlace,
} from '../../../src/core/index.js';

const err = (text: string): string => {
  try {
    resolvePlace(text);
  } catch (e) {
    expect(isAethirError(e) && e.code).toBe('INVALID_ARGUMENT');
    return (e as Error).message;
  }
  throw new Error(`"${text}" resolved`);
};

describe('resolvePlace: every place on Earth', () => {
  it('resolves every city of CITIES to exactly its entry, by name and by "City, CC"', () => {
    for (const c of CITIES) {
      expect(resolvePlace(c.city)).toBe(c);
      expect(resolvePlace(`${c.city.toUpperCase()}, ${c.country.toLowerCase()}`)).toBe(c);
      expect(findCity(`${c.city}, ${c.country}`)).toBe(c);
    }
  });

  it('resolves a gazetteer city outside CITIES, without accents or case, with a derived region', () => {
    const m = resolvePlace('montreal, ca');
    expect(m).toEqual({ city: 'Montréal', country: 'CA', region: 'ca-central', lat: 45.5088, lon: -73.5878 });
    expect(resolvePlace('Lagos, NG')).toMatchObject({ city: 'Lagos', country: 'NG', region: 'af-south' });
    expect(resolvePlace('Mexico City, MX').region).toBe('us-central');
    expect(resolvePlace('Munich, DE').region).toBe('eu-central');
  });

  it('reports an ambiguous name with its cities, and resolves it with the region', () => {
    expect(err('Portland, US')).toBe(
      'ambiguous location "Portland, US": 3 cities: Portland, OR, US; Portland, ME, US; Portland, TX, US; add the region and country code',
    );
    expect(resolvePlace('Portland, OR, US')).toMatchObject({
      city: 'Portland',
      country: 'US',
      region: 'us-west',
    });
    expect(resolvePlace('Portland, me, US')).toMatchObject({ city: 'Portland', region: 'us-east' });
  });

  it('takes plain coordinates, with the country of the nearest city within 100 km', () => {
    expect(resolvePlace('45.50,-73.57')).toEqual({
      city: '45.5,-73.57',
      country: 'CA',
      region: 'ca-central',
      lat: 45.5,
      lon: -73.57,
    });
    // mid-Atlantic: no city within 100 km
    expect(resolvePlace(' 0 , -30 ')).toMatchObject({ country: 'ZZ', lat: 0, lon: -30 });
  });

  it('names a point by its city: CITIES first, then the largest gazetteer city near it, nothing at sea', () => {
    expect(nearestCity({ lat: 50.11, lon: 8.68 })).toEqual({ city: 'Frankfurt', country: 'DE' });
    expect(nearestCity({ lat: 45.5, lon: -73.57 })).toEqual({ city: 'Montréal', country: 'CA' });
    expect(nearestCity({ lat: 0, lon: -30 })).toBeNull();
    expect(nearestCity({ lat: 91, lon: 0 })).toBeNull();
    expect(nearestCity({ lat: Number.NaN, lon: 0 })).toBeNull();
  });

  it('refuses bad input with a clear error', () => {
    expect(err('91,0')).toMatch(/latitude must be -90\.\.90 and longitude -180\.\.180/);
    expect(err('10,181')).toMatch(/latitude must be -90\.\.90/);
    expect(err('Xyzzyville')).toMatch(
      /^unknown location "Xyzzyville": no city of 15,000\+ people by that name;/,
    );
    expect(err('London, US')).toMatch(/no city of 15,000\+ people by that name in US/);
    expect(err('Paris, FRA')).toMatch(/"FRA" is not a two-letter country code/);
    expect(err(', DE')).toMatch(/expected "City", "City, CC" or "City, Region, CC"/);
    expect(err('a, b, c, d')).toMatch(/expected "City", "City, CC" or "City, Region, CC"/);
    expect(err('')).toMatch(/a place is a city name or coordinates/);
    expect(err('x'.repeat(201))).toMatch(/at most 200 characters/);
  });

  it('derives a region from the country: the nearest city of CITIES on its continent', () => {
    expect(regionFor('US', { lat: 45.52, lon: -122.68 })).toBe('us-west');
    expect(regionFor('US', { lat: 43.66, lon: -70.26 })).toBe('us-east');
    expect(regionFor('KE', { lat: -1.28, lon: 36.82 })).toBe('af-south');
    expect(regionFor('NZ', { lat: -36.85, lon: 174.76 })).toBe('ap-southeast');
  });
});
