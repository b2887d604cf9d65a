/**
 * Simulated locker units: the device side of the three vendor documents in shared/protocol, one class per dialect,
 * written independently of the gateway's codecs. See simulators/README.md for the behaviour choices.
 */
import { UNITS } from '../devices/units.js';
import { unitKey, type Credentials } from '../src/config/credentials.js';
import type { UnitProfile } from '../src/domain/model.js';
import type { Logger } from '../src/log.js';
import { CompactV2Unit } from './compact-v2.js';
import { Frame485Unit } from './frame-485.js';
import { JsonV1Unit } from './json-v1.js';
import type { UnitMemory } from './memory.js';
import type { Faults, SimOptions } from './types.js';
import { SimulatedUnit } from './unit.js';

export { SimulatedUnit } from './unit.js';
export { JsonV1Unit } from './json-v1.js';
export { CompactV2Unit } from './compact-v2.js';
export { Frame485Unit } from './frame-485.js';
export { NO_FAULTS } from './types.js';
export { fileUnitMemory, redisUnitMemory, type UnitMemory, type UnitMemoryState } from './memory.js';
export type { CommandInfo, Faults, SimOptions, SimSnapshot } from './types.js';

/** The simulator class for the unit's dialect. */
export function createSimulator(opts: SimOptions): SimulatedUnit {
  switch (opts.unit.dialect) {
    case 'json-v1':
      return new JsonV1Unit(opts);
    case 'compact-v2':
      return new CompactV2Unit(opts);
    case 'frame-485':
      return new Frame485Unit(opts);
  }
}

export interface StartSimulatorsOptions {
  brokerUrl: string;
  credentials: Credentials;
  /** Default: the three units of devices/units.ts. */
  units?: readonly UnitProfile[];
  faults?: Partial<Faults>;
  autopilot?: SimOptions['autopilot'];
  logger?: Logger;
  /** Each unit's non-volatile memory, kept across restarts of this process (see memory.ts). */
  memory?: (unitId: string) => UnitMemory;
  /** Extra options for every unit (heartbeatMs, seed, ...). */
  extra?: Partial<Omit<SimOptions, 'unit' | 'brokerUrl' | 'password' | 'key'>>;
}

/** Create and start one simulator per unit. If any fails to start, the others are stopped and the error thrown. */
export async function startSimulators(opts: StartSimulatorsOptions): Promise<SimulatedUnit[]> {
  const sims = (opts.units ?? UNITS).map((unit) => {
    const creds = opts.credentials.units[unit.id];
    if (!creds) throw new Error(`no credentials for unit ${unit.id}`);
    return createSimulator({
      ...opts.extra,
      unit,
      brokerUrl: opts.brokerUrl,
      password: creds.password,
      key: unitKey(opts.credentials, unit.id),
      ...(opts.faults ? { faults: opts.faults } : {}),
      ...(opts.autopilot ? { autopilot: opts.autopilot } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.memory ? { memory: opts.memory(unit.id) } : {}),
    });
  });
  const results = await Promise.allSettled(sims.map((s) => s.start()));
  const failed = results.flatMap((r) =>
    r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : [],
  );
  if (failed.length > 0) {
    await Promise.allSettled(sims.map((s) => s.stop()));
    throw new Error(`simulators failed to start: ${failed.join('; ')}`);
  }
  return sims;
}
