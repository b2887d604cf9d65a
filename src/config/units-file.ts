import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { FRAME485_BOARDS, LOCKS_PER_BOARD, UNITS } from '../../devices/units.js';
import { DIALECTS, SIZES, type UnitProfile } from '../domain/model.js';
import { ConfigError } from './config.js';

/**
 * The units this gateway serves: UNITS_FILE (a JSON array of unit profiles, the shape of `UnitProfile`), or the
 * three real units of devices/units.ts when it is unset. A bad file refuses to start, naming the key and the field
 * (`UNITS_FILE: [1].compartments[3].size: …`).
 */
const compartment = z.object({ no: z.number().int().min(1).max(9999), size: z.enum(SIZES) }).strict();

const unit = z
  .object({
    // the id is the second level of every MQTT topic and part of Redis keys: no '/', '+', '#', spaces or braces
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only, at most 64'),
    site: z.string().min(1).max(64),
    siteName: z.object({ zh: z.string().min(1).max(64), en: z.string().min(1).max(64) }).strict(),
    dialect: z.enum(DIALECTS),
    compartments: z.array(compartment).min(1).max(9999),
    location: z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) }).strict(),
    /** compartments within easy reach (residents who ask for a low one); default: none, or devices/units.ts's list */
    low: z.array(z.number().int()).optional(),
  })
  .strict()
  .superRefine((u, ctx) => {
    const nos = new Set<number>();
    u.compartments.forEach((c, i) => {
      if (nos.has(c.no)) ctx.addIssue({ code: 'custom', path: ['compartments', i, 'no'], message: `compartment ${c.no} listed twice` });
      nos.add(c.no);
      // frame-485: a compartment is a lock on one of the RS-485 boards the driver polls
      const max = FRAME485_BOARDS.length * LOCKS_PER_BOARD;
      if (u.dialect === 'frame-485' && c.no > max) {
        ctx.addIssue({ code: 'custom', path: ['compartments', i, 'no'], message: `frame-485 units have compartments 1–${max} (${FRAME485_BOARDS.length} boards of ${LOCKS_PER_BOARD} locks)` });
      }
    });
    u.low?.forEach((no, i) => {
      if (!nos.has(no)) ctx.addIssue({ code: 'custom', path: ['low', i], message: `unit has no compartment ${no}` });
    });
  });

export const UnitsFileSchema = z
  .array(unit)
  .min(1, 'at least one unit')
  .superRefine((units, ctx) => {
    const ids = new Set<string>();
    units.forEach((u, i) => {
      if (ids.has(u.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `unit ${u.id} listed twice` });
      ids.add(u.id);
    });
  });

/** Parse the file's text; throws ConfigError naming UNITS_FILE and the field. */
export function parseUnits(text: string, file = 'UNITS_FILE'): UnitProfile[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`invalid configuration: UNITS_FILE: ${file} is not JSON (${(err as Error).message})`);
  }
  const parsed = UnitsFileSchema.safeParse(json);
  if (!parsed.success) {
    const msg = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(file)'}: ${i.message}`)
      .join('; ');
    throw new ConfigError(`invalid configuration: UNITS_FILE: ${file}: ${msg}`);
  }
  return parsed.data as UnitProfile[];
}

/** The configured units: UNITS_FILE if set, else the three real units. */
export function loadUnits(path: string | undefined): readonly UnitProfile[] {
  if (!path) return UNITS;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid configuration: UNITS_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseUnits(text, path);
}
