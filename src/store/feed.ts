import type { Redis } from 'ioredis';
import type { EvidenceEntry } from '../evidence/entry.js';
import type { EvidenceLog } from '../evidence/log.js';
import type { Logger } from '../log.js';
import { fieldMap } from './units.js';

/**
 * What changed, as open console pages need to know it: topics such as `unit:LSN-0001`, `units`, `parcel:p_…`,
 * `parcels`, `alerts`, `notices`, `claims`, `claim:c_…`, `staff`. Never the entry itself (no phone, no detail): a page
 * that cares re-reads what it shows.
 */
export interface Change {
  topics: string[];
  kind: string;
  at: number;
}

/** The topics of one evidence entry on `chain`. Pure. */
export function topicsOf(chain: string, e: EvidenceEntry): string[] {
  const t = new Set<string>();
  const unit = e.unit ?? (chain.startsWith('unit:') ? chain.slice(5) : undefined);
  if (unit) t.add(`unit:${unit}`).add('units');
  if (e.parcel) t.add(`parcel:${e.parcel}`).add('parcels');
  if (typeof e.claim === 'string') t.add(`claim:${e.claim}`).add('claims');
  if (e.kind.startsWith('claim')) t.add('claims');
  if (e.kind === 'alert' || e.kind === 'alert-ack' || e.kind === 'alert-clear' || e.kind === 'dead-letter') t.add('alerts');
  if (e.kind === 'notice' || e.kind === 'notice-retry') t.add('notices');
  if (e.kind.startsWith('lockdown')) t.add('lockdown').add('alerts');
  if (e.kind === 'staff') {
    const action = typeof e.action === 'string' ? e.action : '';
    if (action.startsWith('staff.')) t.add('staff');
    if (action.startsWith('claim')) t.add('claims');
    if (action.startsWith('notice')) t.add('notices');
  }
  return [...t];
}

/** How far before a page's subscription the feed starts reading (clock skew between this process and Redis). */
export const RESUME_MARGIN_MS = 2_000;

/**
 * Every change, for the console's live pages, read from the evidence chains with plain XREAD (no consumer group:
 * every gateway process sees every entry). Every writer in every process already appends to those chains through
 * the one append path (evidence/log.ts) in the same atomic step as its change, so this needs no publisher of its own
 * and cannot miss a change that was written: a page served by gateway A sees a door that gateway B recorded.
 *
 * One blocking connection per process, whatever the number of pages open; chains are looked up again every
 * `rescanMs` (a chain that appears later, such as `office` after the first staff action, is read from its start).
 *
 * Nothing is read while no page listens (a busy gateway would otherwise read and drop every entry it writes, and scan
 * for chains every few seconds). The first listener starts the reading at its own moment, on Redis's clock, less
 * `RESUME_MARGIN_MS`: a change written as the page subscribed is sent, and one from just before may be sent too,
 * which costs the page one more read of what it shows and loses nothing.
 */
export class ChangeFeed {
  private readonly subscribers = new Set<(c: Change) => void>();
  private readonly last = new Map<string, string>();
  private running = false;
  private loop: Promise<void> | null = null;
  private lastScan = 0;
  /** resolves the idle loop's wait: a page subscribed, or stop() */
  private wake: (() => void) | null = null;
  /** when (this process's clock) the first listener after an idle spell subscribed */
  private listenedAt = 0;
  /** the read positions in `last` belong to the current listening spell */
  private positioned = false;

  constructor(
    private readonly d: {
      /** a connection of its own: XREAD BLOCK holds it */
      blocking: Redis;
      log: EvidenceLog;
      logger: Logger;
      blockMs?: number;
      rescanMs?: number;
      /** default RESUME_MARGIN_MS */
      resumeMarginMs?: number;
    },
  ) {}

  /** Called for every change until the returned function is called. */
  subscribe(fn: (c: Change) => void): () => void {
    if (this.subscribers.size === 0) this.listenedAt = Date.now();
    this.subscribers.add(fn);
    this.wake?.();
    return () => this.subscribers.delete(fn);
  }

  get listeners(): number {
    return this.subscribers.size;
  }

  async start(): Promise<void> {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    this.d.blocking.disconnect();
    await this.loop;
  }

  /** Resolves once a page listens (or the feed stops). */
  private async listener(): Promise<void> {
    if (this.subscribers.size || !this.running) return;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    this.wake = null;
  }

  /** Every chain is read from the moment the first listener subscribed (see the class comment). */
  private async position(): Promise<void> {
    const [seconds, micros] = await this.d.blocking.time();
    // Two readings of this process's clock and one of Redis's, each to the millisecond: the moment can come out up to
    // 2 ms late, and an entry of that very millisecond would be skipped (XREAD reads after the id it is given).
    const elapsed = Date.now() - this.listenedAt + 2;
    const from = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - elapsed - (this.d.resumeMarginMs ?? RESUME_MARGIN_MS);
    this.last.clear();
    for (const chain of await this.d.log.chains()) this.last.set(chain, `${Math.max(0, from)}-0`);
    this.lastScan = Date.now();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (this.subscribers.size === 0) {
          this.positioned = false;
          await this.listener();
          continue;
        }
        if (!this.positioned) {
          await this.position();
          this.positioned = true;
        }
        if (Date.now() - this.lastScan >= (this.d.rescanMs ?? 5_000) || this.last.size === 0) {
          this.lastScan = Date.now();
          for (const chain of await this.d.log.chains()) if (!this.last.has(chain)) this.last.set(chain, '0-0');
        }
        if (this.last.size === 0) {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        const chains = [...this.last.keys()];
        const res = (await this.d.blocking.xread(
          'COUNT',
          500,
          'BLOCK',
          this.d.blockMs ?? 2_000,
          'STREAMS',
          ...chains.map((c) => this.d.log.k.evidence(c)),
          ...chains.map((c) => this.last.get(c)!),
        )) as [string, [string, string[]][]][] | null;
        for (const [stream, entries] of res ?? []) {
          const chain = stream.slice(this.d.log.k.evidence('').length);
          for (const [id, fields] of entries) {
            this.last.set(chain, id);
            this.emit(chain, fields);
          }
        }
      } catch (err) {
        if (!this.running) break;
        this.d.logger.warn('console feed: reading the evidence chains failed; retrying', { err });
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private emit(chain: string, fields: string[]): void {
    if (!this.subscribers.size) return;
    let entry: EvidenceEntry;
    try {
      entry = JSON.parse(fieldMap(fields).e ?? '') as EvidenceEntry;
    } catch {
      return;
    }
    if (typeof entry?.kind !== 'string') return;
    const change: Change = { topics: topicsOf(chain, entry), kind: entry.kind, at: entry.at };
    for (const fn of this.subscribers) {
      try {
        fn(change);
      } catch (err) {
        this.d.logger.warn('console feed: a subscriber failed', { err });
      }
    }
  }
}
