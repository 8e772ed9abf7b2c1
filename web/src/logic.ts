// The console's pure pieces (no DOM): tested in test/unit/web.

/** argv from a command line: whitespace splits, single or double quotes group. */
export function argv(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:\\.|[^"\\])*)"|'([^']*)'|(\S+)/g;
  for (let m; (m = re.exec(line));)
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!));
  return out;
}

/** GPUs leased over time, from the ledger's leases: a step at every open and close, then `now`. */
export function leasedOverTime(
  leases: Array<{ gpus: number; openedAt: number; closedAt: number | null }>,
  now: number,
) {
  const steps = new Map<number, number>();
  for (const l of leases) {
    const g = Math.max(1, l.gpus); // a CPU lease counts as one slot
    steps.set(l.openedAt, (steps.get(l.openedAt) ?? 0) + g);
    if (l.closedAt !== null) steps.set(l.closedAt, (steps.get(l.closedAt) ?? 0) - g);
  }
  const t: number[] = [];
  const v: number[] = [];
  let n = 0;
  for (const [at, d] of [...steps.entries()].sort((a, b) => a[0] - b[0])) {
    n += d;
    t.push(at / 1000);
    v.push(n);
  }
  if (t.length) {
    t.push(now / 1000);
    v.push(n);
  }
  return { t, v };
}
