/** In-process counters (malformed payloads, duplicates, command results...). Exposed at GET /metrics. */
export class Counters {
  private readonly values = new Map<string, number>();

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const key = Counters.key(name, labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(name: string, labels: Record<string, string> = {}): number {
    return this.values.get(Counters.key(name, labels)) ?? 0;
  }

  /** Prometheus text exposition. */
  render(): string {
    const lines: string[] = [];
    for (const [k, v] of [...this.values.entries()].sort()) lines.push(`${k} ${v}`);
    return lines.join('\n') + '\n';
  }

  private static key(name: string, labels: Record<string, string>): string {
    const parts = Object.keys(labels)
      .sort()
      .map((k) => `${k}="${String(labels[k]).replace(/["\\\n]/g, '_')}"`);
    return parts.length ? `${name}{${parts.join(',')}}` : name;
  }
}
