import type { CommandResult, FaultKind, UnitProfile } from '../src/domain/model.js';
import type { Logger } from '../src/log.js';
import type { UnitMemory } from './memory.js';

/** Faults that can be switched on per simulated unit, at start or at run time (`setFaults`). */
export interface Faults {
  /**
   * 0..1 probability that an unsolicited event is lost on its way to the gateway. Applies to compact-v2 (t 2, 3, 9)
   * and frame-485 (0x32 change, 0x3A keypad) only: a json-v1 unit never loses an event (QoS 1 plus its 1,000-event
   * buffer), so json-v1 ignores it. A lost compact-v2 event still used up its `m`.
   */
  dropRate: number;
  /** 0..1 probability that an outgoing message is published twice, unchanged (same id / seq / m / frame bytes). */
  duplicateRate: number;
  /** Delay before each outgoing message (frame-485: before each frame a board puts on the bus). */
  delayMs: number;
  /** Compartments whose lock does not release: `open` answers jammed (json-v1 also raises a `fault` event). */
  jammed: number[];
  /** frame-485: junk bytes before frames and, now and then, a copy of a frame with a corrupted BCC. Others ignore. */
  noisyLine: boolean;
  /**
   * frame-485: addresses of boards whose bus transmitter is dead. They still receive and carry out requests
   * (a door may open) but put nothing on the bus: no response, no change report, no keypad frame.
   */
  silentBoards: number[];
}

export const NO_FAULTS: Readonly<Faults> = {
  dropRate: 0,
  duplicateRate: 0,
  delayMs: 0,
  jammed: [],
  noisyLine: false,
  silentBoards: [],
};

export interface SimOptions {
  unit: UnitProfile;
  brokerUrl: string;
  password: string;
  /** Signing key (json-v1, compact-v2); null for frame-485. */
  key: Buffer | null;
  faults?: Partial<Faults>;
  /** compact-v2 heartbeat period, default 30_000. */
  heartbeatMs?: number;
  /**
   * Simulated people: after a door opens by command, after `delayMs` (default 1500) a person puts a parcel in if the
   * compartment is empty or takes it out if it is occupied, then closes the door.
   */
  autopilot?: { enabled: boolean; delayMs?: number };
  logger?: Logger;
  /** Clock in ms (expiry checks, timestamps, display expiry). Default Date.now. */
  now?: () => number;

  // ---- additions beyond the agreed API (all optional) ----
  /** Seed of the simulator's PRNG (faults, DTU chunking, rssi). Default: random, logged at debug level. */
  seed?: number;
  /** Automatic reconnection after an unexpected connection loss (never after crash()/stop()). Default 2000 ms, 0 = off. */
  reconnectMs?: number;
  /** Time after which an open door raises `door_left_open` (json-v1, compact-v2). Default 120_000. */
  doorLeftOpenMs?: number;
  /** json-v1: seq of the last event the unit raised before this run (seq survives reboots). Default 0. */
  initialSeq?: number;
  /** json-v1: events the unit keeps while it cannot send them, oldest dropped first. Default 1,000 (the document's). */
  bufferMax?: number;
  /**
   * Non-volatile memory kept across restarts of the simulating process (json-v1: seq, unsent events, remembered
   * command ids). Loaded at start() (a kept seq above `initialSeq` wins); seq saved with every event, the rest at stop().
   */
  memory?: UnitMemory;
  /**
   * frame-485 DTU: probability that a frame reaches the broker split across 2–3 messages (default 0.25), and that the
   * board's next frame follows closely enough (< 20 ms) to be merged with it into one message (default 0.3).
   */
  chunking?: { splitRate?: number; mergeRate?: number };
}

export interface SimSnapshot {
  online: boolean;
  keypadEnabled: boolean;
  display: { text: string; until: number } | null;
  doors: Record<number, { open: boolean; occupied: boolean }>;
}

/** Payload of the 'command' event: one command the unit received, and what it did with it. */
export interface CommandInfo {
  /** json-v1 op; compact-v2 101 open, 102 status, 103 display, 105 keypad, else `t<n>`; frame-485 status/open/display. */
  op: string;
  result: CommandResult;
  /** The command as received: JSON text, or hex for frame-485. */
  raw: string;
  /** True when the command was a repeat (same cid / m) and was answered again without being carried out. */
  duplicate?: boolean;
  /** frame-485: false when the addressed board is silent and did not answer. */
  answered?: boolean;
}

/** A compartment as the unit's sensors see it. */
export interface DoorState {
  open: boolean;
  occupied: boolean;
  fault: FaultKind | null;
}

export type BootReason = 'power_on' | 'reboot';
/** What releasing a lock did. */
export type Release = 'opened' | 'already_open' | 'jammed';
