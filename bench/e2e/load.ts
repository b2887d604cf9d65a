/**
 * The load driver: whole parcel lifecycles against the gateway, as people would make them. A courier deposits over
 * HTTP; the simulated courier (autopilot) puts the parcel in and closes the door; the code comes by SMS to the
 * receiver; the simulated resident types it at the keypad; the door opens, the parcel is taken out, the door closes;
 * the "collected" SMS comes. `concurrency` lifecycles are in flight at any time, each worker on one unit.
 */
import { performance } from 'node:perf_hooks';
import type { UnitProfile } from '../../src/domain/model.js';
import type { Sims } from './sims.js';
import type { SmsReceiver } from './sms.js';
import { Errors, Samples } from './stats.js';

const now = () => performance.timeOrigin + performance.now();
const WAIT_MS = 30_000;

export interface Gateway {
  url: string;
  /** several gateway processes: deposits go to each in turn */
  urls?: string[];
  courierToken: string;
}

export class Load {
  readonly samples = new Samples();
  readonly errors = new Errors();
  /** lifecycles completed (all, and since the window opened) */
  completed = 0;
  /** parcels deposited (201) and parcels seen collected, by id */
  readonly deposited = new Set<string>();
  readonly collected = new Set<string>();
  /** deposits refused for want of a free compartment (the worker waits and tries again) */
  full = 0;
  private running = false;
  private seq = 0;
  private workers: Promise<void>[] = [];
  /** completions per unit (for the floor's pacing) */
  readonly perUnit = new Map<string, number>();

  constructor(
    private readonly gw: Gateway,
    private readonly sims: Sims,
    private readonly sms: SmsReceiver,
    private readonly units: readonly UnitProfile[],
  ) {}

  start(concurrency: number): void {
    this.running = true;
    this.workers = Array.from({ length: concurrency }, (_, w) => this.worker(this.units[w % this.units.length]!));
  }

  /** Stop starting lifecycles; resolves once those in flight have ended (each wait is bounded). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private async worker(unit: UnitProfile): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.lifecycle(unit))) await new Promise((r) => setTimeout(r, 20));
      } catch (err) {
        this.errors.add(err);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** One lifecycle; false when no compartment was free. */
  async lifecycle(unit: UnitProfile): Promise<boolean> {
    const d = await this.deposit(unit);
    if (!d) return false;
    const stored = await this.storedPart(unit, d.id, d.no);
    await this.collectPart(unit, d.id, d.no, stored.code);
    return true;
  }

  /** A courier's deposit over HTTP (the door opens); null when no compartment was free. */
  async deposit(unit: UnitProfile, size = 'S'): Promise<{ id: string; no: number } | null> {
    const n = ++this.seq;
    const t0 = now();
    const base = this.gw.urls?.length ? this.gw.urls[n % this.gw.urls.length]! : this.gw.url;
    const res = await fetch(`${base}/v1/deposits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.gw.courierToken}` },
      body: JSON.stringify({ unit: unit.id, size, trackingNumber: `BENCH-${process.pid}-${n}`, carrier: 'SF', phone: `139${String(n % 1e8).padStart(8, '0')}` }),
    });
    const body = (await res.json()) as { id: string; compartment: number; error?: { code: string } };
    if (res.status === 409 && body.error?.code === 'no_compartment') {
      this.full++;
      return null;
    }
    if (res.status !== 201) throw new Error(`deposit: HTTP ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
    this.samples.record('deposit', unit.id, now() - t0);
    const { id, compartment: no } = body;
    this.deposited.add(id);
    return { id, no };
  }

  /** door closed with the parcel -> code SMS */
  async storedPart(unit: UnitProfile, id: string, no: number): Promise<{ code: string }> {
    const closed = await this.sims.wait('in', unit.id, no, WAIT_MS);
    const text = await this.sms.wait(`${id}.stored.sms`, WAIT_MS);
    this.samples.record('code SMS', unit.id, text.at - closed.at);
    const m = /取件码 (\d{4,8})|code:? (\d{4,8})/i.exec(text.text);
    const code = m?.[1] ?? m?.[2];
    if (!code) throw new Error(`no code in the SMS: ${text.text}`);
    return { code };
  }

  /** code typed -> open -> door closed empty -> collected SMS */
  async collectPart(unit: UnitProfile, id: string, no: number, code: string): Promise<void> {
    this.sims.typeCode(unit.id, no, code);
    const opened = await this.sims.wait('c2o', unit.id, no, WAIT_MS);
    if (opened.k === 'c2o') this.samples.record('code-to-open', unit.id, opened.ms);
    const closed = await this.sims.wait('out', unit.id, no, WAIT_MS);
    const text = await this.sms.wait(`${id}.collected.sms`, WAIT_MS);
    this.samples.record('collected SMS', unit.id, text.at - closed.at);
    this.collected.add(id);
    this.completed++;
    this.perUnit.set(unit.id, (this.perUnit.get(unit.id) ?? 0) + 1);
  }

  /** Parcels deposited and not (yet) collected. */
  lost(): string[] {
    return [...this.deposited].filter((id) => !this.collected.has(id));
  }
}
