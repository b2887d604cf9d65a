/** Every Redis key the gateway writes, in one place. `p` is REDIS_PREFIX (tests use their own). */
export function keys(p: string) {
  return {
    unit: (id: string) => `${p}unit:${id}`,
    compartments: (id: string) => `${p}comp:${id}`,
    events: (id: string) => `${p}events:${id}`,
    dedupe: (id: string) => `${p}dedupe:${id}`,
    command: (id: string) => `${p}cmd:${id}`,
    /** compact-v2: next down message id per unit; persisted so a restarted gateway never reuses a recent m */
    downMsgId: (id: string) => `${p}downm:${id}`,
    /** compact-v2: down m -> command id, so an ack that arrives after a restart still settles its command */
    downMsgMap: (id: string, m: number) => `${p}downmap:${id}:${m}`,
    /** signed commands sent to a unit within their validity (list `ms|s or o|id`, oldest first): replay guard */
    commandWindow: (id: string) => `${p}cmdwin:${id}`,
    /** a staff alert about a unit that was sent (by alert id): the same cause does not alert again within a day */
    staffAlert: (id: string) => `${p}alerted:${id}`,
    /** the non-volatile memory of a simulated unit run in-process (simulators/memory.ts): not gateway state */
    simUnit: (id: string) => `${p}sim:${id}`,

    // ---- parcels ----
    parcel: (id: string) => `${p}parcel:${id}`,
    /** a compartment given to parcels: {v, j} */
    slot: (unit: string, no: number) => `${p}slot:${unit}:${no}`,
    /** allocated compartment numbers of a unit */
    slots: (unit: string) => `${p}slots:${unit}`,
    /** keyed hash of a live pickup code -> compartment number; its existence makes codes unique per unit */
    code: (unit: string, hash: string) => `${p}code:${unit}:${hash}`,
    /** live parcel ids of a phone */
    phone: (phone: string) => `${p}phone:${phone}`,
    tracking: (carrier: string, tn: string) => `${p}tracking:${carrier}:${tn}`,
    /** zset parcel id -> deadline (stored parcels) */
    deadlines: `${p}deadlines`,
    /** zset parcel id -> time by which the door must have opened (reserved parcels) */
    reservations: `${p}reservations`,
    /** zset `unit|no` -> when a pickup/return intent was set (given up after INTENT_TIMEOUT_MS) */
    intents: `${p}intents`,
    /** the notification outbox (stream), relayed to BullMQ */
    outbox: `${p}outbox`,
    resident: (phone: string) => `${p}resident:${phone}`,
    courier: (id: string) => `${p}courier:${id}`,
    courierToken: (hash: string) => `${p}courier-token:${hash}`,
    couriers: `${p}couriers`,
    /** wrong codes at a keypad (zset of attempt times) and the keypad lock */
    wrongCodes: (unit: string) => `${p}wrong:${unit}`,
    keypadLock: (unit: string) => `${p}kplock:${unit}`,
    /** failed remote pickups per phone / client address, and their locks */
    apiFailures: (kind: 'phone' | 'ip', id: string) => `${p}apifail:${kind}:${id}`,
    apiLock: (kind: 'phone' | 'ip', id: string) => `${p}apilock:${kind}:${id}`,
    otp: (phone: string) => `${p}otp:${phone}`,
  };
}
export type Keys = ReturnType<typeof keys>;
