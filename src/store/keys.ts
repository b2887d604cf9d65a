/** Every Redis key the gateway writes, in one place. `p` is REDIS_PREFIX (tests use their own). */
export function keys(p: string) {
  return {
    unit: (id: string) => `${p}unit:${id}`,
    compartments: (id: string) => `${p}comp:${id}`,
    /** the parcel engine's input: what a unit reported, or what reconciliation inferred (consumer group `parcels`) */
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
    /** keyed hash of a live pickup code -> compartment number, as written before issue 12 (read, and deleted) */
    code: (unit: string, hash: string) => `${p}code:${unit}:${hash}`,
    /** live pickup codes of a unit: hash code field -> compartment number (store/indexes.ts); a field makes a code taken */
    codes: (unit: string) => `${p}codes:${unit}`,
    /** live parcel ids of a phone: a set, as written before issue 12 (read, and emptied as its parcels end) */
    phone: (phone: string) => `${p}phone:${phone}`,
    // ---- issue 12 (memory) ----
    /** live parcel ids of a phone, zset id -> createdAt, as written before issue 12's shared index (read, and emptied) */
    phoneLive: (phone: string) => `${p}phone-live:${phone}`,
    /**
     * live parcels by the last 4 digits of the phone: zset `phone|id` -> createdAt (store/indexes.ts). Both the live
     * parcels of a phone and the console's search by phone tail of live parcels; ended ones go to `searchPhoneTail`
     */
    phoneTail: (last4: string) => `${p}ptail:${last4}`,
    /** carrier + tracking number -> parcel id, as written before issue 12 (read, and deleted when replaced) */
    tracking: (carrier: string, tn: string) => `${p}tracking:${carrier}:${tn}`,
    /** tracking numbers, 256 buckets: hash `carrier|number` -> parcel ids, newest first (store/indexes.ts) */
    trackingBucket: (bucket: string) => `${p}trk:${bucket}`,
    /** zset parcel id -> deadline (stored parcels) */
    deadlines: `${p}deadlines`,
    /** zset parcel id -> time by which the door must have opened (reserved parcels) */
    reservations: `${p}reservations`,
    /** a reserved parcel whose deposit window ended: its unit answered a status request asked since (sweep.ts) */
    depositChecked: (id: string) => `${p}depcheck:${id}`,
    /** a status request for that check is under way (one gateway asks at a time) */
    depositAsking: (id: string) => `${p}depask:${id}`,
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
    /** set of units whose keypad the wrong-code limit locked: what the sweep looks at to unlock (it drops the unlocked) */
    keypadLocked: `${p}kplocked`,
    /** failed remote pickups per phone / client address, and their locks */
    apiFailures: (kind: 'phone' | 'ip', id: string) => `${p}apifail:${kind}:${id}`,
    apiLock: (kind: 'phone' | 'ip', id: string) => `${p}apilock:${kind}:${id}`,
    otp: (phone: string) => `${p}otp:${phone}`,

    // ---- evidence (see src/evidence/) ----
    /** a hash-chained evidence stream: one per unit (`unit:LSN-0001`), and `office` for staff actions on no unit */
    evidence: (chain: string) => `${p}evidence:${chain}`,
    evidenceHead: (chain: string) => `${p}evhead:${chain}`,
    /** append-only record of a chain's heads (periodic, and before every trim), HMAC-signed */
    checkpoints: (chain: string) => `${p}evcheckpoints:${chain}`,
    /** stream ids of a parcel's entries, in order (list) */
    evParcel: (id: string) => `${p}evx:p:${id}`,
    /** stream ids of a compartment's door, sensor and command entries, by time (zset) */
    evCompartment: (unit: string, no: number) => `${p}evx:c:${unit}:${no}`,
    /** stream ids of codes typed at a unit's keypad, by time (zset) */
    evCodes: (unit: string) => `${p}evx:k:${unit}`,
    /** ended parcels by end time (zset), for retention; and live ones by creation time */
    ended: `${p}ended`,
    live: `${p}live`,
    /** engine entries that failed for good (stream) */
    deadLetter: `${p}deadletter`,

    // ---- staff and resident sign-in ----
    /** ended parcels of a phone (zset id -> endedAt, the newest kept) for a signed-in resident's history */
    phoneEnded: (phone: string) => `${p}phone-ended:${phone}`,
    staffMember: (id: string) => `${p}staff:${id}`,
    staffMembers: `${p}staff-members`,
    /** normalised name -> member id (names are unique, case-insensitively) */
    staffName: (name: string) => `${p}staff-name:${name}`,
    /** SHA-256 of a session cookie -> session; and the session hashes of a member (to end them all) */
    staffSession: (hash: string) => `${p}staff-session:${hash}`,
    staffSessions: (memberId: string) => `${p}staff-sessions:${memberId}`,
    /** SHA-256 of an API token -> token id; token records by id; all token ids */
    staffTokenHash: (hash: string) => `${p}staff-token-hash:${hash}`,
    staffToken: (id: string) => `${p}staff-token:${id}`,
    staffTokens: `${p}staff-tokens`,
    /** zset token id -> when it was last used */
    staffTokensUsed: `${p}staff-tokens-used`,
    /** failed staff logins per name / client address, and their locks */
    loginFailures: (kind: 'name' | 'ip', id: string) => `${p}loginfail:${kind}:${id}`,
    loginLock: (kind: 'name' | 'ip', id: string) => `${p}loginlock:${kind}:${id}`,
    /** one-time codes asked for per phone / client address (a window), and the lock when over the limit */
    otpRequests: (kind: 'phone' | 'ip', id: string) => `${p}otpreq:${kind}:${id}`,
    otpRequestLock: (kind: 'phone' | 'ip', id: string) => `${p}otpreqlock:${kind}:${id}`,
    /** SHA-256 of a resident token -> {phone, expiresAt} */
    residentSession: (hash: string) => `${p}resident-session:${hash}`,

    // ---- opening doors: rate limits and lockdowns (src/bus/open-guard.ts) ----
    /**
     * door opens admitted in the last minute (zset command id -> time), per unit and for the fleet, by kind; `burst`
     * holds the unexplained ones since the unit's (the fleet's) lockdown was last lifted
     */
    opensUnit: (unit: string, kind: 'explained' | 'unexplained' | 'burst') => `${p}opens:${kind}:unit:${unit}`,
    opensFleet: (kind: 'explained' | 'unexplained' | 'burst') => `${p}opens:${kind}:fleet`,
    /** a lockdown in force (JSON): of one unit, or of the whole fleet */
    lockdownUnit: (unit: string) => `${p}lockdown:unit:${unit}`,
    lockdownFleet: `${p}lockdown:fleet`,
    // ---- lost-parcel claims (see src/claims/) ----
    /** a claim: {v, j, state}; its own log of changes (list of JSON lines, oldest first) */
    claim: (id: string) => `${p}claim:${id}`,
    claimLog: (id: string) => `${p}claimlog:${id}`,
    /** sequence of the claims' short numbers (K00001…) */
    claimSeq: `${p}claim-seq`,
    /** indexes, zsets id -> opened at: all claims, by state, by resident phone, by unit */
    claims: `${p}claims`,
    claimsByState: (state: string) => `${p}claims:state:${state}`,
    claimsByPhone: (phone: string) => `${p}claims:phone:${phone}`,
    claimsByUnit: (unit: string) => `${p}claims:unit:${unit}`,
    /** zset id -> when the reopening window of a resolved claim ends (the sweep closes it then) */
    claimsAutoClose: `${p}claims:autoclose`,
    /** the unresolved claims about a parcel (set of claim ids; a new claim needs it empty) */
    claimParcel: (parcelId: string) => `${p}claim-parcel:${parcelId}`,
    /** alerts sent for a claim (hash alert key -> when): each stage of each clock once, whatever the number of gateways */
    claimAlerts: (id: string) => `${p}claim-alerts:${id}`,
    /** stream ids of a claim's entries in the office evidence chain, in order (list) */
    evClaim: (id: string) => `${p}evx:claim:${id}`,

    // ---- staff console and alerts (src/http/console/, src/alerts/, store/search.ts) ----
    /** parcel search: ids by the last 4 digits of the phone (ended parcels; live ones too before issue 12); zsets id -> createdAt */
    searchPhoneTail: (last4: string) => `${p}srch:tail:${last4}`,
    /** ids by tracking number (upper case), as written before issue 12 (read; the tracking buckets replace them) */
    searchTracking: (tn: string) => `${p}srch:tn:${tn}`,
    /** set once the search index holds every parcel written before it existed */
    searchBackfilled: `${p}srch:backfilled`,
    /** an alert (hash: j = JSON, ackedAt, ackedBy, repeats); open ones and all recent ones by raise time (zsets) */
    alert: (id: string) => `${p}alert:${id}`,
    alertsOpen: `${p}alerts:open`,
    alertsAll: `${p}alerts:all`,
    /** open alert id per subject (`door-jammed:LSN-0001:7`): one open alert per subject */
    alertSubjects: `${p}alerts:subjects`,
    /** an occurrence already raised (or folded into an open alert): each alert once */
    alertSeen: (key: string) => `${p}alerts:seen:${key}`,
  };
}
export type Keys = ReturnType<typeof keys>;
