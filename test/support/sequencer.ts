import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * `npm test` runs two files at a time. Vitest's own order runs one project after the other, which
 * would put two deadline-racing `e2e` files side by side (they wait on each other's lock instead):
 * this order alternates them with the `e2e-journeys` files, longest first as vitest ranks them,
 * and runs the short unit files last.
 */
export class InterleavingSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const of = (name: string) => sorted.filter((f) => f.project.name === name);
    const racers = of('e2e');
    const journeys = of('e2e-journeys');
    const out: TestSpecification[] = [];
    while (racers.length || journeys.length) {
      const j = journeys.shift();
      if (j) out.push(j);
      const r = racers.shift();
      if (r) out.push(r);
    }
    return [...out, ...sorted.filter((f) => f.project.name !== 'e2e' && f.project.name !== 'e2e-journeys')];
  }
}
