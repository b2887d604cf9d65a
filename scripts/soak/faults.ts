/**
 * The fault injector: at seeded random times (exponential gaps around each kind's mean), one of the kinds below.
 * Process kills go one at a time (lane `infra`), receiver modes one at a time (lane `receiver`); the units' faults
 * overlap freely. Each kind's first injection falls within `firstWithinMs`, so a short run sees every kind.
 */
import { UNITS } from '../../devices/units.js';
import type { Ledger } from './ledger.js';
import type { GatewayProc, MosquittoProc, RedisProc } from './procs.js';
import { sleep } from './procs.js';
import type { Receiver, ReceiverMode } from './receiver.js';
import type { Sims } from './sims.js';

export const FAULT_KINDS = [
  'mosquitto-kill',
  'redis-kill',
  'gateway-kill',
  'unit-disconnect',
  'qos1-duplicates',
  'frame-loss',
  'frame-noise',
  'door-jam',
  'receiver-fail',
  'receiver-timeout',
  'receiver-slow',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What each fault does, for the report and docs/reliability.md. */
export const FAULT_TEXT: Record<FaultKind, string> = {
  'mosquitto-kill': 'Mosquitto SIGKILLed, restarted on the same port 1–4 s later (persistence off, as shipped: retained messages and sessions are gone)',
  'redis-kill': 'redis-server SIGKILLed, restarted on the same port and dir 1–4 s later (the AOF is replayed)',
  'gateway-kill': 'the gateway process SIGKILLed and started again at once (same MQTT client id and consumer names)',
  'unit-disconnect': 'a unit drops its connection without DISCONNECT (last will), reconnects 1–6 s later',
  'qos1-duplicates': 'a unit publishes half its messages twice (same ids) for 5–10 s',
  'frame-loss': 'frame-485: 30 % of change and keypad frames lost for 5–10 s',
  'frame-noise': 'frame-485: junk bytes and corrupted-BCC copies on the line for 5–15 s',
  'door-jam': 'a compartment lock does not release for 5–20 s (the unit answers jammed)',
  'receiver-fail': 'SMS / webhook receiver answers 503 to everything for 3–10 s (nothing delivered)',
  'receiver-timeout': 'receiver takes messages but answers after the sender\'s 10 s timeout, for 2–6 s',
  'receiver-slow': 'receiver answers after 0.5–3 s, for 5–15 s',
};

/** Mean gap between two injections of each kind, in seconds (scaled by --fault-scale). */
const MEAN_GAP_S: Record<FaultKind, number> = {
  'mosquitto-kill': 150,
  'redis-kill': 150,
  'gateway-kill': 100,
  'unit-disconnect': 40,
  'qos1-duplicates': 40,
  'frame-loss': 40,
  'frame-noise': 40,
  'door-jam': 25,
  'receiver-fail': 60,
  'receiver-timeout': 90,
  'receiver-slow': 60,
};

export interface FaultDeps {
  rng: () => number;
  sims: Sims;
  receiver: Receiver;
  redis: RedisProc;
  mosquitto: MosquittoProc;
  gateway: GatewayProc;
  ledger: Ledger;
  log: (msg: string) => void;
  /** times the gateway was killed (a delivery before one may be repeated after it) */
  gatewayKills: number[];
}

const FRAME_485 = UNITS.find((u) => u.dialect === 'frame-485')!.id;

export class FaultInjector {
  readonly counts: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  private stopped = false;
  private readonly lanes = { infra: Promise.resolve(), receiver: Promise.resolve() };
  private readonly running = new Set<Promise<void>>();
  private readonly jammed = new Map<string, Set<number>>();
  /** when redis-server was killed (a delivery repeated after one is explained: its completion may be lost) */
  readonly redisKills: number[] = [];
  /** a process start that failed (it is tried again) */
  readonly startFailures: string[] = [];

  constructor(
    private readonly d: FaultDeps,
    private readonly kinds: readonly FaultKind[],
    private readonly scale: number,
    private readonly firstWithinMs: number,
  ) {}

  private gap(kind: FaultKind): number {
    return -Math.log(1 - this.d.rng()) * MEAN_GAP_S[kind] * 1000 * this.scale;
  }

  start(): void {
    for (const kind of this.kinds) void this.loop(kind);
  }

  private async loop(kind: FaultKind): Promise<void> {
    let wait = this.d.rng() * this.firstWithinMs;
    for (;;) {
      await sleep(wait);
      if (this.stopped) return;
      const p = this.inject(kind).catch((err: unknown) => this.d.log(`fault ${kind} failed: ${(err as Error).message}`));
      this.running.add(p);
      void p.finally(() => this.running.delete(p));
      await p;
      wait = this.gap(kind);
    }
  }

  /** Stop injecting; wait for the faults under way to end; switch every unit and the receiver back to normal. */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running.size) await Promise.allSettled([...this.running]);
    this.d.receiver.mode = 'ok';
    for (const u of UNITS) {
      await this.d.sims.faults(u.id, { duplicateRate: 0, dropRate: 0, noisyLine: false, jammed: [] });
      await this.d.sims.reconnect(u.id).catch(() => {});
    }
  }

  private lane(name: 'infra' | 'receiver', fn: () => Promise<void>): Promise<void> {
    const run = this.lanes[name].then(fn);
    this.lanes[name] = run.catch(() => {});
    return run;
  }

  private span(min: number, max: number): number {
    return Math.floor(min + this.d.rng() * (max - min));
  }

  /** Start a process again until it comes up (a dependency may be down at that moment). */
  private async restart(p: RedisProc | MosquittoProc | GatewayProc): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await p.start();
        return;
      } catch (err) {
        this.startFailures.push(`${p.name}: ${(err as Error).message.split('\n')[0]}`);
        await p.kill().catch(() => {});
        if (i >= 20) throw err;
        await sleep(1000);
      }
    }
  }

  private async inject(kind: FaultKind): Promise<void> {
    const { sims, receiver, rng } = this.d;
    this.counts[kind]++;
    switch (kind) {
      case 'mosquitto-kill':
      case 'redis-kill':
        return this.lane('infra', async () => {
          const p = kind === 'redis-kill' ? this.d.redis : this.d.mosquitto;
          if (kind === 'redis-kill') this.redisKills.push(Date.now());
          await p.kill();
          await sleep(this.span(1000, 4000));
          await this.restart(p);
        });
      case 'gateway-kill':
        return this.lane('infra', async () => {
          this.d.gatewayKills.push(Date.now());
          await this.d.gateway.kill();
          await this.restart(this.d.gateway);
        });
      case 'unit-disconnect': {
        const unit = UNITS[Math.floor(rng() * UNITS.length)]!.id;
        await sims.crash(unit);
        await sleep(this.span(1000, 6000));
        await sims.reconnect(unit).catch(() => {}); // the broker may be down: the unit then retries by itself
        return;
      }
      case 'qos1-duplicates': {
        const unit = UNITS[Math.floor(rng() * UNITS.length)]!.id;
        await sims.faults(unit, { duplicateRate: 0.5 });
        await sleep(this.span(5000, 10_000));
        await sims.faults(unit, { duplicateRate: 0 });
        return;
      }
      case 'frame-loss':
        await sims.faults(FRAME_485, { dropRate: 0.3 });
        await sleep(this.span(5000, 10_000));
        await sims.faults(FRAME_485, { dropRate: 0 });
        return;
      case 'frame-noise':
        await sims.faults(FRAME_485, { noisyLine: true });
        await sleep(this.span(5000, 15_000));
        await sims.faults(FRAME_485, { noisyLine: false });
        return;
      case 'door-jam': {
        // half the time a compartment someone holds (its next open will jam), else any compartment
        const held = [...this.d.ledger.holders.values()];
        let unit: string;
        let no: number;
        if (held.length && rng() < 0.5) {
          const h = held[Math.floor(rng() * held.length)]!;
          unit = h.t.unit;
          no = h.t.no;
        } else {
          const u = UNITS[Math.floor(rng() * UNITS.length)]!;
          unit = u.id;
          no = u.compartments[Math.floor(rng() * Math.min(u.compartments.length, 12))]!.no;
        }
        const set = this.jammed.get(unit) ?? new Set<number>();
        this.jammed.set(unit, set);
        set.add(no);
        await sims.faults(unit, { jammed: [...set] });
        await sleep(this.span(5000, 20_000));
        set.delete(no);
        await sims.faults(unit, { jammed: [...set] });
        return;
      }
      case 'receiver-fail':
      case 'receiver-timeout':
      case 'receiver-slow':
        return this.lane('receiver', async () => {
          const mode = kind.slice('receiver-'.length) as ReceiverMode;
          receiver.mode = mode;
          await sleep(mode === 'fail' ? this.span(3000, 10_000) : mode === 'timeout' ? this.span(2000, 6000) : this.span(5000, 15_000));
          receiver.mode = 'ok';
        });
    }
  }
}
