import type { CommandResult } from '../domain/model.js';
import type { Parcel } from '../domain/parcel.js';
import type { Courier } from './accounts.js';
import type { ParcelDeps } from './context.js';
import type { Doors } from './doors.js';
import { ParcelError } from './errors.js';

/** Overdue parcels go back to the courier who brought them, and only theirs, even from a shared compartment. */
export class Returns {
  constructor(
    private readonly d: ParcelDeps,
    private readonly doors: Doors,
  ) {}

  async take(courier: Courier, parcelId: string, ref: string): Promise<{ parcel: Parcel; result: CommandResult }> {
    const parcel = await this.d.parcels.parcel(parcelId);
    if (!parcel || parcel.courierId !== courier.id) throw new ParcelError('not_found', `no parcel ${parcelId} deposited by you`);
    if (parcel.state !== 'expired') throw new ParcelError('not_waiting', `only overdue parcels can be taken back; this one is ${parcel.state}`);
    const { result } = await this.doors.startOpen(parcel.unit, parcel.compartment, 'return', {
      ref,
      courierId: courier.id,
      parcelId,
      actor: { type: 'courier', id: courier.id },
      reason: `return of ${parcelId}`,
    });
    if (result !== 'done' && result !== 'timed_out') throw new ParcelError('open_failed', `the door did not open (${result})`, { result });
    return { parcel: (await this.d.parcels.parcel(parcelId)) ?? parcel, result };
  }
}
