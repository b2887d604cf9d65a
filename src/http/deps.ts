import type { Context } from 'hono';
import type { Clock } from '../domain/clock.js';
import type { CommandResult, UnitProfile } from '../domain/model.js';
import type { Parcel } from '../domain/parcel.js';
import type { Courier, ResidentPrefs } from '../parcels/accounts.js';
import type { DepositInput } from '../parcels/deposit.js';
import type { CodeCheck, CodeRequest } from '../residents/signin.js';

/**
 * What the courier and resident routes need, as interfaces: one implementation per runtime.
 * - Site gateway (runtime/gateway.ts): the concrete services; door opens go straight to the drivers
 *   (ParcelService -> Doors.startOpen -> CommandBus -> driver).
 * - Edge (runtime/worker.ts, src/edge/): door requests and the calls that need the site's keys are queued in Redis
 *   for the site gateway, which runs them through the same ParcelService (lockdown, limits) and answers.
 * Nothing here may import a Node-only helper: these types are what the Worker bundles.
 */

/** The client's address, for per-address limits (Node: socket or X-Forwarded-For; edge: CF-Connecting-IP). */
export type ClientAddress = (c: Context) => string;

export interface Ids {
  /** a fresh unique id (a ULID on both runtimes) */
  next(): string;
}

export interface RuntimeDeps {
  clock: Clock;
  ids: Ids;
  clientAddress: ClientAddress;
}

/**
 * Door requests: "open a compartment for this parcel intent (deposit, pickup, return) and tell me the result".
 * Each one validates (rules, lockdown, limits) and opens through the site's drivers; the promise settles with the
 * outcome the unit reported, or a ParcelError/ApiError the routes turn into the one error envelope.
 */
export interface DoorRequests {
  deposit(courier: Courier, input: DepositInput): Promise<Parcel>;
  remotePickup(input: { unit: string; code: string; phone: string; presenceCode: string; client: string; ref: string }): Promise<{
    compartment: number;
    parcels: Parcel[];
    result: CommandResult;
  }>;
  returnParcel(courier: Courier, parcelId: string, ref: string): Promise<{ parcel: Parcel; result: CommandResult }>;
}

/** Parcel reads and pickup-code checks (the code key stays on site: codes are hashed there). */
export interface ParcelQueries {
  profile(unit: string): UnitProfile;
  get(id: string): Promise<Parcel | null>;
  residentParcels(phone: string, code: string, client: string): Promise<Parcel[]>;
  extend(phone: string, code: string, parcelId: string, client: string): Promise<Parcel>;
  extendOwn(phone: string, parcelId: string): Promise<Parcel>;
  residentHistory(phone: string, endedSince: number): Promise<Parcel[]>;
}

export type ParcelApi = DoorRequests & ParcelQueries;

export interface CourierAuth {
  authenticate(token: string): Promise<Courier | null>;
}

export interface ResidentPrefsStore {
  prefs(phone: string): Promise<ResidentPrefs>;
  setPrefs(phone: string, change: Partial<Omit<ResidentPrefs, 'updatedAt'>>, now?: number): Promise<ResidentPrefs>;
}

/** Residents' sign-in by SMS (the OTP key and the SMS queue stay on site). */
export interface ResidentSessions {
  requestCode(phone: string, client: string): Promise<CodeRequest>;
  verify(phone: string, code: string): Promise<CodeCheck>;
  authenticate(token: string): Promise<{ phone: string; expiresAt: number } | null>;
  signOut(token: string): Promise<void>;
}

export interface Idempotency {
  perform<T>(kind: string, caller: readonly string[], request: readonly string[], key: string | undefined, fn: (ref: string) => Promise<T>): Promise<T>;
}

/** The courier and resident API: everything both runtimes serve. */
export interface ApiDeps {
  parcels: ParcelApi;
  couriers: CourierAuth;
  residents: ResidentPrefsStore;
  residentSignIn: ResidentSessions;
  idempotency: Idempotency;
}
