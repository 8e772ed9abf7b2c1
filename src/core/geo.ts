/**
 * Real cities where GPU hosts and users are, with coordinates (WGS84, from public
 * gazetteers) and the region names requests use. The latency model of the checker and
 * indexer issues builds on the same table.
 */
export interface City {
  city: string;
  country: string;
  region: string;
  lat: number;
  lon: number;
}

export const CITIES: readonly City[] = [
  { city: 'Frankfurt', country: 'DE', region: 'eu-central', lat: 50.1109, lon: 8.6821 },
  { city: 'Amsterdam', country: 'NL', region: 'eu-west', lat: 52.3676, lon: 4.9041 },
  { city: 'London', country: 'GB', region: 'eu-west', lat: 51.5072, lon: -0.1276 },
  { city: 'Paris', country: 'FR', region: 'eu-west', lat: 48.8566, lon: 2.3522 },
  { city: 'Dublin', country: 'IE', region: 'eu-west', lat: 53.3498, lon: -6.2603 },
  { city: 'Madrid', country: 'ES', region: 'eu-south', lat: 40.4168, lon: -3.7038 },
  { city: 'Milan', country: 'IT', region: 'eu-south', lat: 45.4642, lon: 9.19 },
  { city: 'Stockholm', country: 'SE', region: 'eu-north', lat: 59.3293, lon: 18.0686 },
  { city: 'Warsaw', country: 'PL', region: 'eu-central', lat: 52.2297, lon: 21.0122 },
  { city: 'Ashburn', country: 'US', region: 'us-east', lat: 39.0438, lon: -77.4874 },
  { city: 'New York', country: 'US', region: 'us-east', lat: 40.7128, lon: -74.006 },
  { city: 'Chicago', country: 'US', region: 'us-central', lat: 41.8781, lon: -87.6298 },
  { city: 'Dallas', country: 'US', region: 'us-central', lat: 32.7767, lon: -96.797 },
  { city: 'Los Angeles', country: 'US', region: 'us-west', lat: 34.0522, lon: -118.2437 },
  { city: 'San Jose', country: 'US', region: 'us-west', lat: 37.3382, lon: -121.8863 },
  { city: 'Seattle', country: 'US', region: 'us-west', lat: 47.6062, lon: -122.3321 },
  { city: 'Toronto', country: 'CA', region: 'ca-central', lat: 43.6532, lon: -79.3832 },
  { city: 'Sao Paulo', country: 'BR', region: 'sa-east', lat: -23.5505, lon: -46.6333 },
  { city: 'Tokyo', country: 'JP', region: 'ap-northeast', lat: 35.6762, lon: 139.6503 },
  { city: 'Seoul', country: 'KR', region: 'ap-northeast', lat: 37.5665, lon: 126.978 },
  { city: 'Singapore', country: 'SG', region: 'ap-southeast', lat: 1.3521, lon: 103.8198 },
  { city: 'Hong Kong', country: 'HK', region: 'ap-east', lat: 22.3193, lon: 114.1694 },
  { city: 'Taipei', country: 'TW', region: 'ap-east', lat: 25.033, lon: 121.5654 },
  { city: 'Mumbai', country: 'IN', region: 'ap-south', lat: 19.076, lon: 72.8777 },
  { city: 'Sydney', country: 'AU', region: 'ap-southeast', lat: -33.8688, lon: 151.2093 },
  { city: 'Dubai', country: 'AE', region: 'me-central', lat: 25.2048, lon: 55.2708 },
  { city: 'Johannesburg', country: 'ZA', region: 'af-south', lat: -26.2041, lon: 28.0473 },
];

/** Great-circle distance in km (haversine, mean Earth radius). */
export function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const R = 6371.0088;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}
