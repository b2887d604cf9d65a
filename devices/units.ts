import type { CompartmentProfile, Size, UnitProfile } from '../src/domain/model.js';

function range(from: number, to: number, size: Size): CompartmentProfile[] {
  const out: CompartmentProfile[] = [];
  for (let no = from; no <= to; no++) out.push({ no, size });
  return out;
}

/** The three units of shared/protocol/README.md. */
export const UNITS: readonly UnitProfile[] = [
  {
    id: 'LSN-0001',
    site: 'lishe-ercun-north',
    siteName: { zh: '里厍二村北区', en: 'Lishe Ercun North' },
    dialect: 'json-v1',
    compartments: [...range(1, 16, 'S'), ...range(17, 28, 'M'), ...range(29, 34, 'L'), ...range(35, 36, 'XL')],
    location: { lat: 31.3895, lng: 120.9786 },
  },
  {
    id: 'a4c138f0e2d1',
    site: 'lishe-ercun-south',
    siteName: { zh: '里厍二村南区', en: 'Lishe Ercun South' },
    dialect: 'compact-v2',
    compartments: [...range(1, 12, 'S'), ...range(13, 22, 'M'), ...range(23, 28, 'L'), ...range(29, 30, 'XL')],
    location: { lat: 31.3871, lng: 120.9790 },
  },
  {
    id: '861234567890123',
    site: 'qilin-xincun',
    siteName: { zh: '麒麟新村', en: 'Qilin Xincun' },
    dialect: 'frame-485',
    compartments: [...range(1, 10, 'S'), ...range(11, 18, 'M'), ...range(19, 24, 'L')],
    location: { lat: 31.3920, lng: 120.9712 },
  },
];

/** frame-485: board address and lock for a compartment (board 1 = 1–12, board 2 = 13–24). */
export const FRAME485_BOARDS = [0x01, 0x02] as const;
export const FRAME485_KEYPAD_BOARD = 0x0f;
export const LOCKS_PER_BOARD = 12;

export function unitById(id: string): UnitProfile | undefined {
  return UNITS.find((u) => u.id === id);
}

/**
 * Compartments within easy reach (the lower rows, no stretching or stooping), per the installers' layout sheets.
 * Used for residents who ask for a low compartment (many are elderly).
 */
export const LOW_COMPARTMENTS: Readonly<Record<string, readonly number[]>> = {
  'LSN-0001': [5, 6, 7, 8, 13, 14, 15, 16, 21, 22, 23, 24, 31, 32, 33, 34, 35, 36],
  a4c138f0e2d1: [4, 5, 6, 10, 11, 12, 18, 19, 20, 21, 22, 26, 27, 28, 29, 30],
  '861234567890123': [4, 5, 9, 10, 15, 16, 17, 18, 21, 22, 23, 24],
};
