/**
 * The units of a bench run: the three real units of devices/units.ts, and for more (--units N, --fleet N) synthetic
 * units of the same three dialects, same compartments, with ids of each dialect's shape (json-v1 serial, compact-v2
 * MAC, frame-485 IMEI). They go to the gateway as a UNITS_FILE (a JSON array of unit profiles, the shape of
 * devices/units.ts UNITS) and a CREDENTIALS_FILE (the development file plus a password and key per synthetic unit).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UNITS } from '../../devices/units.js';
import { ConfigSchema } from '../../src/config/config.js';
import { DEV_CREDENTIALS_FILE } from '../../src/config/credentials.js';
import type { UnitProfile } from '../../src/domain/model.js';

export function benchUnits(count: number): UnitProfile[] {
  const out: UnitProfile[] = UNITS.slice(0, Math.min(count, UNITS.length)).map((u) => ({ ...u }));
  for (let i = UNITS.length; i < count; i++) {
    const n = i - UNITS.length + 1;
    const base = UNITS[i % UNITS.length]!;
    const id =
      base.dialect === 'json-v1'
        ? `LSN-B${String(n).padStart(5, '0')}`
        : base.dialect === 'compact-v2'
          ? `b0c0${n.toString(16).padStart(8, '0')}`
          : `86999${String(n).padStart(10, '0')}`;
    out.push({ ...base, id, site: `bench-${base.site}`, siteName: { zh: `${base.siteName.zh} ${n}`, en: `${base.siteName.en} ${n}` } });
  }
  return out;
}

export interface UnitFiles {
  /** null: the three real units, nothing to pass */
  unitsFile: string | null;
  credentialsFile: string;
}

/** Write the files the gateway needs for `units` (nothing for the three real units). */
export function writeUnitFiles(units: UnitProfile[]): UnitFiles {
  if (units.length <= UNITS.length && units.every((u, i) => u.id === UNITS[i]?.id)) return { unitsFile: null, credentialsFile: DEV_CREDENTIALS_FILE };
  if (!('UNITS_FILE' in ConfigSchema.shape)) {
    throw new Error(
      `${units.length} units need the gateway's UNITS_FILE setting (units from a configuration file), which this build does not have yet: ` +
        `run with at most ${UNITS.length} units (the real ones)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'lg-bench-units-'));
  const creds = JSON.parse(readFileSync(DEV_CREDENTIALS_FILE, 'utf8')) as { units: Record<string, { password: string; keyHex: string | null }> };
  for (const u of units) {
    creds.units[u.id] ??= { password: randomBytes(12).toString('hex'), keyHex: u.dialect === 'frame-485' ? null : randomBytes(32).toString('hex') };
  }
  const unitsFile = join(dir, 'units.json');
  const credentialsFile = join(dir, 'credentials.json');
  writeFileSync(unitsFile, JSON.stringify(units, null, 1));
  writeFileSync(credentialsFile, JSON.stringify(creds, null, 1));
  return { unitsFile, credentialsFile };
}
