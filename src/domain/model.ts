/**
 * The canonical model every dialect is normalised into. Pure types: no I/O here.
 */
export const SIZES = ['S', 'M', 'L', 'XL'] as const;
export type Size = (typeof SIZES)[number];

export const DIALECTS = ['json-v1', 'compact-v2', 'frame-485'] as const;
export type Dialect = (typeof DIALECTS)[number];

export interface CompartmentProfile {
  no: number;
  size: Size;
}

export interface UnitProfile {
  id: string;
  site: string;
  siteName: { zh: string; en: string };
  dialect: Dialect;
  compartments: CompartmentProfile[];
  /** Site position, used to offer the nearest other unit when one is full. */
  location: { lat: number; lng: number };
  /** compartments within easy reach (for residents who ask for a low one); default devices/units.ts LOW_COMPARTMENTS */
  low?: number[];
}

export type FaultKind = 'jammed' | 'sensor';
export type AlarmKind = 'tamper' | 'door_forced' | 'door_left_open' | 'power';

/** Result of a command, the same vocabulary for every dialect. */
export const COMMAND_RESULTS = [
  'done',
  'jammed',
  'unknown_compartment',
  'bad_signature',
  'expired',
  'busy',
  'unsupported',
  'timed_out',
  /** never sent: no gateway serving the unit took the command in time (scale-out), so it will never run */
  'not_sent',
] as const;
export type CommandResult = (typeof COMMAND_RESULTS)[number];

export type CommandOp =
  | { op: 'open'; compartment: number }
  /** `ascii`: what a screen without Chinese shows instead (frame-485); defaults to `text` with non-ASCII removed */
  | { op: 'display'; text: string; seconds: number; ascii?: string }
  | { op: 'keypad'; enabled: boolean }
  | { op: 'status' };

export type CommandState = 'sent' | 'done' | 'failed' | 'timed_out';

export interface CommandRecord {
  id: string;
  unit: string;
  op: CommandOp['op'];
  args: CommandOp;
  state: CommandState;
  result?: CommandResult;
  createdAt: number;
  finishedAt?: number;
}

/** Where an event came from on the wire, kept in the event log for evidence. */
export interface EventSource {
  /** json-v1 event seq / id */
  seq?: number;
  id?: string;
  /** compact-v2 message id */
  msgId?: number;
  /** frame-485 raw frame, hex */
  frame?: string;
  /** set when the gateway derived the event by comparing a snapshot/status with its stored state */
  reconciled?: boolean;
}

/** A normalised thing that happened at a unit. `at` is device time where the dialect has one, else receipt time. */
export type UnitEvent = { unit: string; at: number; source: EventSource } & (
  | { kind: 'presence'; online: boolean; reason?: string }
  | { kind: 'door-opened'; compartment: number }
  | { kind: 'door-closed'; compartment: number; occupied: boolean }
  /**
   * A code typed at the keypad. The event log never holds a typed code in clear (a valid one would open a door):
   * `code` is masked (`48****`) and `codeHash` is the keyed hash the parcel store uses to find the parcel.
   */
  | { kind: 'code-entered'; code: string; codeHash: string }
  | { kind: 'fault'; compartment: number; fault: FaultKind }
  | { kind: 'alarm'; alarm: AlarmKind; compartment?: number }
  | { kind: 'boot'; firmware?: string; reason?: string }
  | { kind: 'keypad'; state: KeypadState; reason?: string }
  /** staff took a compartment (or, without compartment, the whole unit) out of service or back */
  | { kind: 'service'; outOfService: boolean; compartment?: number; reason?: string }
  | {
      /** a parcel changed state (written by the parcel service in the same step as the change) */
      kind: 'parcel';
      parcelId: string;
      compartment: number;
      from: string;
      to: string;
      reason: string;
    }
  | {
      kind: 'command';
      commandId: string;
      op: CommandOp['op'];
      compartment?: number;
      state: CommandState;
      result?: CommandResult;
      /** who asked: a parcel id, a staff user, "reconcile"... kept as evidence */
      reason?: string;
    }
);
export type UnitEventKind = UnitEvent['kind'];

/** A full picture of the doors/occupancy as the unit reports it (retained snapshot, status, board poll). */
export interface CompartmentReading {
  compartment: number;
  doorOpen: boolean;
  occupied: boolean;
  /** undefined = the dialect does not report faults in snapshots */
  fault?: FaultKind | null;
}

export interface Snapshot {
  unit: string;
  at: number;
  firmware?: string;
  compartments: CompartmentReading[];
  source: EventSource;
}

export type KeypadState = 'enabled' | 'disabled' | 'locked';

export interface UnitState {
  id: string;
  site: string;
  siteName: { zh: string; en: string };
  dialect: Dialect;
  online: boolean;
  since: number | null;
  lastSeen: number | null;
  firmware: string | null;
  keypad: KeypadState;
  /** closed down by staff: takes no new parcels */
  outOfService: boolean;
  rssi?: number | null;
  compartments: CompartmentState[];
}

export interface CompartmentState {
  no: number;
  size: Size;
  doorOpen: boolean;
  occupied: boolean;
  fault: FaultKind | null;
  outOfService: boolean;
  updatedAt: number | null;
}
