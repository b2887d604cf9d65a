/**
 * The soak's side of the simulator process (sims-child.ts): orders over IPC, door openings as they happen.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Faults, SimSnapshot } from '../../simulators/index.js';

export type SimOp = 'start' | 'snapshot' | 'put' | 'take' | 'close' | 'code' | 'crash' | 'reconnect' | 'faults' | 'stop';
export interface SimRequest {
  id: number;
  op: SimOp;
  unit?: string;
  no?: number;
  code?: string;
  faults?: Partial<Faults>;
}
export type SimResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  | { ev: 'opened'; unit: string; no: number; at: number };

export interface Opening {
  unit: string;
  no: number;
  at: number;
}

/** The simulated units, running in a child process. Emits `opened` (Opening) whenever a door springs open. */
export class Sims extends EventEmitter {
  private readonly child: ChildProcess;
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly openings: Opening[] = [];

  constructor(brokerUrl: string, seed: number) {
    super();
    this.setMaxListeners(0); // every lifecycle waiting for a door listens
    const file = fileURLToPath(new URL('./sims-child.js', import.meta.url));
    this.child = fork(file, [brokerUrl, String(seed)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: SimResponse) => {
      if ('ev' in m) {
        const o = { unit: m.unit, no: m.no, at: m.at };
        this.openings.push(o);
        this.emit('opened', o);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`simulator process exited (${code})`));
      this.pending.clear();
    });
  }

  private call<T>(req: Omit<SimRequest, 'id'>): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...req, id });
    });
  }

  start = () => this.call<null>({ op: 'start' });
  snapshot = (unit: string) => this.call<SimSnapshot>({ op: 'snapshot', unit });
  put = (unit: string, no: number) => this.call<null>({ op: 'put', unit, no });
  take = (unit: string, no: number) => this.call<null>({ op: 'take', unit, no });
  close = (unit: string, no: number) => this.call<null>({ op: 'close', unit, no });
  code = (unit: string, code: string) => this.call<null>({ op: 'code', unit, code });
  crash = (unit: string) => this.call<null>({ op: 'crash', unit });
  reconnect = (unit: string) => this.call<null>({ op: 'reconnect', unit });
  faults = (unit: string, faults: Partial<Faults>) => this.call<null>({ op: 'faults', unit, faults });

  async stop(): Promise<void> {
    await this.call<null>({ op: 'stop' }).catch(() => {});
    this.child.disconnect();
  }
}
