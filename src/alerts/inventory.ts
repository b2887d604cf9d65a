import type { CompartmentState, Size, UnitState } from '../domain/model.js';
import { SIZES } from '../domain/model.js';
import type { Parcel, Slot } from '../domain/parcel.js';

/**
 * What each compartment is, from its sensors (live unit state) and its records (slot and parcels); and where the two
 * disagree (the inventory audit). Pure.
 */
export type CellState = 'fault' | 'door-open' | 'out-of-service' | 'overdue' | 'occupied' | 'reserved' | 'free';

export interface SlotRecord {
  slot: Slot;
  parcels: Parcel[];
}

/** Parcels that should be inside a closed compartment. */
const INSIDE = new Set(['stored', 'expired', 'returning', 'collecting']);
/** Parcels that hold a compartment before they are in it. */
const COMING = new Set(['reserved', 'depositing']);

export const isOverdue = (p: Parcel, now: number) => p.state === 'expired' || (p.state === 'stored' && p.deadline !== null && p.deadline <= now);

/** One state per compartment for the grid: the most urgent first. */
export function cellState(c: CompartmentState, rec: SlotRecord | null, now: number): CellState {
  if (c.fault) return 'fault';
  if (c.doorOpen) return 'door-open';
  if (c.outOfService) return 'out-of-service';
  const parcels = rec?.parcels ?? [];
  if (parcels.some((p) => isOverdue(p, now))) return 'overdue';
  if (parcels.some((p) => INSIDE.has(p.state)) || c.occupied) return 'occupied';
  if (parcels.some((p) => COMING.has(p.state))) return 'reserved';
  return 'free';
}

/** Compartments a courier could be given now, by size. */
export function freeBySize(u: UnitState, slots: ReadonlyMap<number, SlotRecord>): Record<Size, number> {
  const out = Object.fromEntries(SIZES.map((s) => [s, 0])) as Record<Size, number>;
  if (u.outOfService) return out;
  for (const c of u.compartments) {
    if (!slots.has(c.no) && !c.fault && !c.outOfService && !c.doorOpen && !c.occupied) out[c.size]++;
  }
  return out;
}

export type Problem = 'recorded-but-empty' | 'occupied-but-free' | 'occupied-before-deposit' | 'door-open-unexpected' | 'sensor-fault';

export interface Disagreement {
  unit: string;
  compartment: number;
  size: Size;
  problem: Problem;
  /** what the sensors say and what the records say, each in Chinese and English */
  sensors: { zh: string; en: string };
  records: { zh: string; en: string };
  parcels: Pick<Parcel, 'id' | 'state' | 'trackingNumber'>[];
}

function sensorText(c: CompartmentState): { zh: string; en: string } {
  if (c.fault) return { zh: `故障（${c.fault === 'jammed' ? '卡住' : '传感器'}）`, en: `fault (${c.fault})` };
  const door = c.doorOpen ? { zh: '门开', en: 'door open' } : { zh: '门关', en: 'door closed' };
  const occ = c.occupied ? { zh: '有物品', en: 'something inside' } : { zh: '空', en: 'empty' };
  return { zh: `${door.zh}，${occ.zh}`, en: `${door.en}, ${occ.en}` };
}

function recordText(rec: SlotRecord | null): { zh: string; en: string } {
  if (!rec || !rec.parcels.length) return { zh: '空闲，无包裹', en: 'free, no parcel' };
  const list = rec.parcels.map((p) => `${p.id} ${p.state}`).join(', ');
  const intent = rec.slot.intent ? { zh: `；正在开门（${rec.slot.intent}）`, en: `; opening for ${rec.slot.intent}` } : { zh: '', en: '' };
  return { zh: `${rec.parcels.length} 件：${list}${intent.zh}`, en: `${rec.parcels.length} parcel(s): ${list}${intent.en}` };
}

/** Every compartment of a unit where the sensors and the records disagree. */
export function audit(u: UnitState, slots: ReadonlyMap<number, SlotRecord>): Disagreement[] {
  const out: Disagreement[] = [];
  for (const c of u.compartments) {
    const rec = slots.get(c.no) ?? null;
    const parcels = rec?.parcels ?? [];
    let problem: Problem | null = null;
    if (c.fault) problem = 'sensor-fault';
    else if (c.doorOpen) {
      // a door being opened on purpose has an intent (deposit, pickup, return); any other open door is unexplained
      if (!rec?.slot.intent) problem = 'door-open-unexpected';
    } else if (parcels.some((p) => INSIDE.has(p.state)) && !c.occupied) problem = 'recorded-but-empty';
    else if (c.occupied && !parcels.length) problem = 'occupied-but-free';
    else if (c.occupied && parcels.every((p) => p.state === 'reserved')) problem = 'occupied-before-deposit';
    if (!problem) continue;
    out.push({
      unit: u.id,
      compartment: c.no,
      size: c.size,
      problem,
      sensors: sensorText(c),
      records: recordText(rec),
      parcels: parcels.map((p) => ({ id: p.id, state: p.state, trackingNumber: p.trackingNumber })),
    });
  }
  return out;
}
