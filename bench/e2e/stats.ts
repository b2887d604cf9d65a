/** Latency samples by metric and unit, percentiles, and the errors of a run. */
export const pct = (sorted: number[], p: number): number =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]! : NaN;

export interface Dist {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function dist(xs: number[]): Dist {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p95: pct(s, 95), p99: pct(s, 99), max: s.length ? s[s.length - 1]! : NaN };
}

export class Samples {
  /** metric -> unit -> ms */
  private readonly m = new Map<string, Map<string, number[]>>();
  record(metric: string, unit: string, ms: number): void {
    let byUnit = this.m.get(metric);
    if (!byUnit) this.m.set(metric, (byUnit = new Map()));
    let a = byUnit.get(unit);
    if (!a) byUnit.set(unit, (a = []));
    a.push(ms);
  }
  clear(): void {
    this.m.clear();
  }
  of(metric: string, unit?: string): number[] {
    const byUnit = this.m.get(metric);
    if (!byUnit) return [];
    return unit === undefined ? [...byUnit.values()].flat() : (byUnit.get(unit) ?? []);
  }
}

export class Errors {
  count = 0;
  readonly byMessage = new Map<string, number>();
  add(err: unknown): void {
    this.count++;
    // ids and numbers vary: group by the message's shape
    const msg = (err instanceof Error ? err.message : String(err)).replace(/\d+/g, 'N').slice(0, 200);
    this.byMessage.set(msg, (this.byMessage.get(msg) ?? 0) + 1);
  }
  top(n = 5): { message: string; count: number }[] {
    return [...this.byMessage].sort((a, b) => b[1] - a[1]).slice(0, n).map(([message, count]) => ({ message, count }));
  }
}
