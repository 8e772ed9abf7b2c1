/**
 * The bus carries telemetry that does not move money (heartbeats, live logs, lease events).
 * Subjects are dot-separated as in NATS; `*` matches one token, `>` the rest.
 */
export interface Bus {
  publish(subject: string, data: unknown): void;
  subscribe(pattern: string, handler: (data: unknown, subject: string) => void): () => void;
}

export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** In-process bus: synchronous delivery, handler errors isolated from the publisher. */
export class MemoryBus implements Bus {
  private readonly subs = new Set<{ pattern: string; handler: (data: unknown, subject: string) => void }>();
  dropped = 0;

  publish(subject: string, data: unknown): void {
    for (const s of [...this.subs]) {
      if (!subjectMatches(s.pattern, subject)) continue;
      try {
        s.handler(data, subject);
      } catch {
        this.dropped++;
      }
    }
  }

  subscribe(pattern: string, handler: (data: unknown, subject: string) => void): () => void {
    const sub = { pattern, handler };
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }
}
