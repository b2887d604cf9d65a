/**
 * One parcel lifecycle as the people at the units live it: a courier asks for a compartment over HTTP, waits for
 * the door, puts the parcel in and closes it; the resident reads the code from the SMS the receiver got, types it
 * at the unit's keypad, takes the parcel and closes the door. Whatever the faults do, they follow the product's
 * flows: a compartment that did not open (jammed) is asked for again (the gateway cancels it and gives another or
 * the same once fixed), a door that did not open for a code is tried again a little later, a gateway that does not
 * answer is asked again with the same tracking number (idempotent).
 */
import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import type { Size } from '../../src/domain/model.js';
import type { Ledger, Life, Tenancy } from './ledger.js';
import { sleep } from './procs.js';
import type { Receiver } from './receiver.js';
import type { Sims } from './sims.js';

export interface World {
  gwUrl: string;
  courierToken: string;
  sims: Sims;
  receiver: Receiver;
  redis: Redis;
  prefix: string;
  rng: () => number;
  ledger: Ledger;
  /** the deposit window the gateway was given (DEPOSIT_OPEN_TIMEOUT_MS) */
  depositWindowMs: number;
  /** probability that a resident types an old code again after collecting */
  replayRate: number;
  log: (msg: string) => void;
}

interface ApiBody {
  id?: string;
  compartment?: number;
  /** when the gateway reserved the compartment (ISO time; its clock is the same machine's) */
  createdAt?: string;
  error?: { code?: string };
}

const LIVE = new Set(['reserved', 'depositing', 'stored', 'collecting', 'expired', 'returning']);

async function api(w: World, method: string, path: string, body?: unknown): Promise<{ status: number; body: ApiBody }> {
  try {
    const res = await fetch(w.gwUrl + path, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${w.courierToken}` },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) as ApiBody };
    } catch {
      return { status: res.status, body: {} };
    }
  } catch {
    return { status: 0, body: {} };
  }
}

export async function parcelState(w: World, id: string): Promise<string | null> {
  return w.redis.hget(`${w.prefix}parcel:${id}`, 'state');
}

async function waitState(w: World, id: string, want: (s: string | null) => boolean, ms: number): Promise<string | null> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await parcelState(w, id).catch(() => undefined);
    if (s !== undefined && want(s)) return s;
    if (Date.now() > end) return s ?? null;
    await sleep(300);
  }
}

/** The door of (unit, no) sprang open at or after `since` (as the simulator saw it). */
/** An opening of that door at or after `since` (less `slackMs`: the people's and the simulators' clocks read apart). */
function waitOpened(w: World, unit: string, no: number, since: number, ms: number, slackMs = 5): Promise<boolean> {
  const seen = () => {
    const o = w.sims.openings;
    for (let i = o.length - 1; i >= 0 && o[i]!.at >= since - slackMs; i--) if (o[i]!.unit === unit && o[i]!.no === no) return true;
    return false;
  };
  if (seen()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const on = (x: { unit: string; no: number }) => {
      if (x.unit === unit && x.no === no) finish(true);
    };
    const t = setTimeout(() => finish(false), ms);
    const finish = (v: boolean) => {
      clearTimeout(t);
      w.sims.off('opened', on);
      resolve(v);
    };
    w.sims.on('opened', on);
  });
}

function pickSize(w: World, unit: (typeof UNITS)[number]): Size {
  const r = w.rng();
  const want: Size = r < 0.5 ? 'S' : r < 0.85 ? 'M' : 'L';
  return unit.compartments.some((c) => c.size === want) ? want : 'S';
}

const retryWait = (w: World, base: number) => sleep(base + Math.floor(w.rng() * base));

/** Run lifecycle `i` to its end; never throws (an unexpected error ends it as it stands). */
export async function lifecycle(w: World, i: number): Promise<Life> {
  const unit = UNITS[Math.floor(w.rng() * UNITS.length)]!;
  const life: Life = {
    i,
    unit: unit.id,
    phone: String(13900000000 + i),
    tracking: `SOAK${String(i).padStart(6, '0')}`,
    tenancies: [],
    outcome: 'running',
    parcelId: null,
    physical: 'none',
    depositAttempts: 0,
    openFailed: 0,
    codeTypes: 0,
    startedAt: Date.now(),
  };
  w.ledger.lives.push(life);
  try {
    await run(w, life, unit, pickSize(w, unit));
  } catch (err) {
    const t = life.tenancies.at(-1);
    const opens = t ? w.sims.openings.filter((o) => o.unit === t.unit && o.no === t.no && o.at > Date.now() - 120_000).map((o) => o.at - t.requestedAt) : [];
    const others = t ? w.ledger.tenancies.filter((x) => x.unit === t.unit && x.no === t.no && x !== t && x.requestedAt > Date.now() - 120_000).map((x) => `${x.parcelId}@${x.requestedAt - t.requestedAt}${x.closedAt ? `/closed@${x.closedAt - t.requestedAt}` : ''}${x.takenAt ? `/taken@${x.takenAt - t.requestedAt}` : ''}`) : [];
    w.log(`lifecycle ${i}: ${(err as Error).message} [${t?.parcelId} openings at ${opens.join(',')} ms; other tenancies ${others.join(' ')}]`);
    if (life.outcome === 'running') life.outcome = life.physical === 'in' ? 'not-collected' : 'deposit-gave-up';
  }
  life.endedAt = Date.now();
  return life;
}

async function run(w: World, life: Life, unit: (typeof UNITS)[number], size: Size): Promise<void> {
  const giveUpAt = Date.now() + 6 * 60_000;
  let t = null as Tenancy | null;
  let unanswered: number | null = null;
  // ---- deposit ----
  for (;;) {
    if (Date.now() > giveUpAt) {
      life.outcome = 'deposit-gave-up';
      w.log(`lifecycle ${life.i}: gave up depositing at ${unit.id} after ${life.depositAttempts} requests (last: ${life.lastError ?? 'door never opened'})`);
      return;
    }
    life.depositAttempts++;
    // A request whose answer never came (gateway killed, timed out) may have reserved a compartment and opened its
    // door all the same: the parcel a retry gets back dates from the first of those requests.
    const requestedAt: number = unanswered ?? Date.now();
    const res = await api(w, 'POST', '/v1/deposits', { unit: unit.id, size, trackingNumber: life.tracking, carrier: 'SF', phone: life.phone, shareCompartment: false });
    // Any 5xx may come after the reservation and the open (a 503 when Redis went away just after the door opened):
    // the parcel a retry gets back, and its opening, may date from this request.
    unanswered = res.status === 0 || res.status >= 500 ? requestedAt : null;
    if (res.status === 200 || res.status === 201) {
      const id = res.body.id!;
      const no = res.body.compartment!;
      if (t && t.parcelId === id) {
        // the same deposit answered again (a retry): same parcel, same compartment
      } else {
        const reservedAt = Date.parse(res.body.createdAt ?? '');
        t = { parcelId: id, unit: unit.id, no, requestedAt, codeTypedAt: [], ...(Number.isFinite(reservedAt) ? { reservedAt } : {}) };
        const before = w.ledger.begin(life, t);
        if (before) {
          const st = await parcelState(w, before.t.parcelId).catch(() => null);
          if ((st !== null && LIVE.has(st)) || before.life.physical === 'in' && before.life.parcelId === before.t.parcelId) {
            w.ledger.doubles.push({ unit: unit.id, no, holder: before.t.parcelId, holderState: st, newcomer: id, at: Date.now() });
            w.log(`DOUBLE ASSIGNMENT ${unit.id} #${no}: ${before.t.parcelId} (${st}) and ${id}`);
          }
        }
      }
      // Not opened at once (an open lost with a killed gateway, a late answer): wait out the deposit window.
      // An opening before the gateway reserved the compartment was another's (the previous resident's pickup may open
      // it while the 201 is on its way); without the reservation's time, one before the previous use ended.
      const since = t.reservedAt ?? Math.max(t.requestedAt, t.notBefore ?? 0);
      const opened = await waitOpened(w, unit.id, no, since, w.depositWindowMs + 15_000);
      const now = await parcelState(w, id).catch(() => null);
      if (!opened || now === 'cancelled') {
        // never opened, or opened after the gateway gave the reservation up: close it empty, unless the opening
        // was for whoever the gateway gave the compartment to since (its reservation is written before its open)
        if (opened && (await w.redis.exists(`${w.prefix}slot:${unit.id}:${no}`)) === 0) await w.sims.close(unit.id, no).catch(() => {});
        w.ledger.release(t);
        t = null;
        await retryWait(w, 1000);
        continue;
      }
      await w.sims.put(unit.id, no);
      await w.sims.close(unit.id, no);
      t.closedAt = Date.now();
      life.parcelId = id;
      life.physical = 'in';
      const st = await waitState(w, id, (s) => s === 'stored', 120_000);
      if (st !== 'stored') {
        life.outcome = 'not-stored';
        w.log(`lifecycle ${life.i}: ${id} at ${unit.id} #${no} is ${st} after the door closed with it inside`);
        return;
      }
      break;
    }
    const code = res.body.error?.code ?? '';
    if (code === 'open_failed') life.openFailed++;
    life.lastError = `${res.status} ${code}`;
    await retryWait(w, res.status === 0 || res.status >= 500 ? 1000 : 1500);
  }
  // ---- pickup ----
  const id = t.parcelId;
  const first = await w.receiver.waitCode(id, 240_000);
  if (!first) {
    life.outcome = 'no-code';
    w.log(`lifecycle ${life.i}: no code for ${id} in 240 s`);
    return;
  }
  const pickupUntil = Date.now() + 5 * 60_000;
  for (;;) {
    const code = w.receiver.code(id) ?? first;
    const typedAt = Date.now();
    t.codeTypedAt.push(typedAt);
    life.codeTypes++;
    await w.sims.code(unit.id, code).catch(() => {});
    // Any opening after the door closed on the parcel is this pickup's: an earlier code's open may come late (its
    // keypad message held up by an outage), and a resident who looks at the locker sees the door open. Strictly
    // after: the deposit's own opening may be reported within a few ms of the close.
    const since = t.closedAt !== undefined ? t.closedAt + 1 : typedAt;
    const slack = t.closedAt !== undefined ? 0 : 5;
    if (await waitOpened(w, unit.id, t.no, since, 10_000, slack)) break;
    const st = await parcelState(w, id).catch(() => null);
    if (st === 'collecting') {
      if (await waitOpened(w, unit.id, t.no, since, 20_000, slack)) break;
    }
    if (Date.now() > pickupUntil) {
      life.outcome = 'not-opened';
      w.log(`lifecycle ${life.i}: ${id} at ${unit.id} #${t.no} never opened for its code (state ${st})`);
      return;
    }
    await retryWait(w, 1500);
  }
  await w.sims.take(unit.id, t.no);
  await w.sims.close(unit.id, t.no);
  t.takenAt = Date.now();
  life.physical = 'out';
  const st = await waitState(w, id, (s) => s === 'collected', 120_000);
  life.outcome = st === 'collected' ? 'collected' : 'not-collected';
  if (st !== 'collected') w.log(`lifecycle ${life.i}: ${id} taken out of ${unit.id} #${t.no} but the gateway says ${st}`);
  w.ledger.release(t);
  if (w.rng() < w.replayRate) {
    // the resident (or someone who saw the SMS) types the old code again: it must open nothing
    await sleep(Math.floor(w.rng() * 2000));
    t.replayAt = Date.now();
    await w.sims.code(unit.id, w.receiver.code(id) ?? first).catch(() => {});
  }
}
