/**
 * The one clock. Everything that reads the time (service, engine, sweeps, limits, notices, routes) takes a Clock,
 * so tests about deadlines and windows move time forward instead of waiting for it.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to (tests, benchmarks, replays). */
export class ManualClock implements Clock {
  constructor(private t = Date.UTC(2026, 10, 29, 2, 0, 0)) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}
