/**
 * The load driver's side of the simulated units' process (sim-child.ts): start it, type codes, wait for what the
 * units saw (a door closed with or without a parcel, a code answered by an open).
 */
import type { ChildProcess } from 'node:child_process';
import type { UnitProfile } from '../../src/domain/model.js';
import { spawnTs } from './procs.js';
import type { FromChild, Note, ToChild } from './sim-child.js';

type Kind = 'in' | 'out' | 'c2o';
const keyOf = (kind: Kind, unit: string, no: number) => `${kind}|${unit}|${no}`;

export class Sims {
  private readonly proc: ChildProcess;
  /** notes nobody waited for yet (a door can close before the deposit's HTTP answer is read) */
  private readonly unread = new Map<string, Note[]>();
  private readonly waiting = new Map<string, (n: Note) => void>();
  private exitError: Error | null = null;
  /** every open the units carried out (deposits and collections) */
  opens = 0;

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    proc.on('message', (m: FromChild) => {
      if (m.t !== 'batch') return;
      for (const n of m.items) this.onNote(n);
    });
    proc.once('exit', (code) => (this.exitError = new Error(`the simulators' process exited (${code})`)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  static async start(o: { brokerUrl: string; units: readonly UnitProfile[]; credentialsFile: string; autopilotMs: number; heartbeatMs?: number }): Promise<{ sims: Sims; connected: number }> {
    const sims = new Sims(spawnTs('bench/e2e/sim-child.ts'));
    const answer = sims.next();
    sims.send({ t: 'start', brokerUrl: o.brokerUrl, units: [...o.units], credentialsFile: o.credentialsFile, autopilotMs: o.autopilotMs, ...(o.heartbeatMs ? { heartbeatMs: o.heartbeatMs } : {}) });
    const m = await answer;
    if (m.t === 'error') {
      sims.proc.kill();
      throw new Error(`simulated units did not start: ${m.message}`);
    }
    return { sims, connected: m.t === 'ready' ? m.connected : 0 };
  }

  private send(m: ToChild): void {
    this.proc.send(m);
  }

  private next(): Promise<Exclude<FromChild, { t: 'batch' }>> {
    return new Promise((resolve, reject) => {
      const on = (m: FromChild) => {
        if (m.t === 'batch') return;
        this.proc.off('message', on);
        resolve(m);
      };
      this.proc.on('message', on);
      this.proc.once('exit', (code) => reject(new Error(`the simulators' process exited (${code})`)));
    });
  }

  private onNote(n: Note): void {
    if (n.k === 'open') {
      this.opens++;
      return;
    }
    const key = n.k === 'c2o' ? keyOf('c2o', n.unit, n.no) : keyOf(n.occupied ? 'in' : 'out', n.unit, n.no);
    const w = this.waiting.get(key);
    if (w) {
      this.waiting.delete(key);
      w(n);
      return;
    }
    const list = this.unread.get(key);
    if (list) list.push(n);
    else this.unread.set(key, [n]);
  }

  /** The next note of `kind` for the compartment (in: closed with a parcel; out: closed empty; c2o: a code opened it). */
  wait(kind: Kind, unit: string, no: number, timeoutMs: number): Promise<Note> {
    const key = keyOf(kind, unit, no);
    const list = this.unread.get(key);
    if (list?.length) {
      const n = list.shift()!;
      if (!list.length) this.unread.delete(key);
      return Promise.resolve(n);
    }
    if (this.exitError) return Promise.reject(this.exitError);
    if (this.waiting.has(key)) return Promise.reject(new Error(`two waiters for ${key}`));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`${unit} compartment ${no}: no ${kind === 'c2o' ? 'open after the code' : kind === 'in' ? 'door closed with the parcel' : 'door closed empty'} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(key, (n) => {
        clearTimeout(t);
        resolve(n);
      });
    });
  }

  typeCode(unit: string, no: number, code: string): void {
    this.send({ t: 'code', unit, no, code });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const done = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.send({ t: 'stop' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(t);
  }
}
