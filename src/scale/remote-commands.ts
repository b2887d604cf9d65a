import type { Redis } from 'ioredis';
import { CommandError, type CommandBus, type RemoteCommandSender, type SendOptions } from '../bus/commands.js';
import { OpenRefused } from '../bus/open-guard.js';
import type { CommandOp, CommandRecord } from '../domain/model.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';

/**
 * Door commands across gateways. A gateway's HTTP may ask for a command at a unit another gateway serves: the
 * request goes on the unit's command stream `cmdq:{unit}` (consumer group `owner`), read only by the unit's owner,
 * which runs it through its own CommandBus (open guard, record, evidence, driver) and publishes the answer on the
 * asking gateway's reply channel. The command record (`cmd:{id}`, SET NX) is written by the owner only, so a command
 * is sent once however often the request is read: a new owner that claims a dead owner's pending request finds the
 * record and answers with it instead of sending again.
 *
 * Exactly one side claims a request (`cmdclaim:{id}`, SET NX, as the edge queue does): the owner before it runs it,
 * or the asking gateway when it gives up waiting, so a request answered `timed_out` is never run late.
 */
export const remoteKeys = (prefix: string) => ({
  /** requests for one unit (the unit id in braces: one hash slot per unit in a cluster) */
  stream: (unit: string) => `${prefix}cmdq:{${unit}}`,
  claim: (id: string) => `${prefix}cmdclaim:${id}`,
  replies: (gateway: string) => `${prefix}cmdreply:${gateway}`,
});
export const OWNER_GROUP = 'owner';
const STREAM_MAXLEN = 10_000;
const CLAIM_TTL_MS = 10 * 60_000;
/** time a request may wait for the owner to read it, on top of the command's own timeout */
const QUEUE_GRACE_MS = 5_000;

interface RemoteRequest {
  id: string;
  unit: string;
  op: CommandOp;
  opts: SendOptions;
  replyTo: string;
  deadline: number;
}

type RemoteReply =
  | { id: string; ok: true; record: CommandRecord }
  | { id: string; ok: false; kind: 'refused'; why: OpenRefused['why']; scope: OpenRefused['scope']; retryAfterMs: number | null }
  | { id: string; ok: false; kind: 'command'; code: CommandError['code']; message: string }
  | { id: string; ok: false; kind: 'error'; message: string };

export interface RemoteCommandsDeps {
  redis: Redis;
  /** a new connection of its own (blocking reads, the reply subscription) */
  connection: () => Redis;
  prefix: string;
  gatewayId: string;
  commands: () => CommandBus;
  /** units whose lease this gateway holds now */
  owned: () => string[];
  holds: (unit: string) => boolean;
  timeoutMs: number;
  logger: Logger;
  counters?: Counters;
  now?: () => number;
}

export class RemoteCommands implements RemoteCommandSender {
  private readonly k;
  private readonly waiting = new Map<string, (r: RemoteReply) => void>();
  private sub: Redis | null = null;
  private reader: Redis | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly tasks = new Set<Promise<void>>();
  private readonly groups = new Set<string>();
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly d: RemoteCommandsDeps) {
    this.k = remoteKeys(d.prefix);
    this.log = d.logger.child({ component: 'remote-commands' });
    this.now = d.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.sub = this.d.connection();
    this.sub.on('message', (_channel: string, raw: string) => {
      try {
        const reply = JSON.parse(raw) as RemoteReply;
        this.waiting.get(reply.id)?.(reply);
      } catch {
        this.log.warn('malformed command reply dropped');
      }
    });
    await this.sub.subscribe(this.k.replies(this.d.gatewayId));
    this.reader = this.d.connection();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.allSettled([...this.tasks]);
    this.sub?.disconnect();
    this.reader?.disconnect();
  }

  // ---- the asking side ----

  async send(unit: string, op: CommandOp, opts: SendOptions & { id: string }): Promise<CommandRecord> {
    let result = 'error';
    try {
      const rec = await this.ask(unit, op, opts);
      result = rec.result ?? rec.state;
      return rec;
    } catch (err) {
      result = err instanceof OpenRefused ? err.why : err instanceof CommandError ? err.code : 'error';
      throw err;
    } finally {
      this.d.counters?.inc('lg_remote_commands_total', { side: 'asked', result });
    }
  }

  private async ask(unit: string, op: CommandOp, opts: SendOptions & { id: string }): Promise<CommandRecord> {
    const timeoutMs = opts.timeoutMs ?? this.d.timeoutMs;
    const req: RemoteRequest = { id: opts.id, unit, op, opts, replyTo: this.d.gatewayId, deadline: this.now() + timeoutMs + QUEUE_GRACE_MS };
    let resolve!: (r: RemoteReply | null) => void;
    const answered = new Promise<RemoteReply | null>((r) => (resolve = r));
    this.waiting.set(req.id, resolve);
    try {
      await this.d.redis.xadd(this.k.stream(unit), 'MAXLEN', '~', STREAM_MAXLEN, '*', 'req', JSON.stringify(req));
      const wait = (ms: number) => Promise.race([answered, new Promise<null>((r) => setTimeout(() => r(null), ms).unref())]);
      let reply = await wait(timeoutMs + QUEUE_GRACE_MS);
      if (!reply) {
        // Give up first if no owner took it: then it is never run.
        if ((await this.d.redis.set(this.k.claim(req.id), 'requester', 'PX', CLAIM_TTL_MS, 'NX')) === 'OK') {
          this.log.warn('no gateway serving the unit took the command in time; not sent', { unit, id: req.id, op: op.op });
          // `not_sent`, not `timed_out`: the caller knows the door cannot open (a deposit gives its compartment back).
          return { id: req.id, unit, op: op.op, args: op, state: 'failed', result: 'not_sent', createdAt: this.now(), finishedAt: this.now() };
        }
        reply = await wait(timeoutMs);
      }
      if (!reply) return await this.fromRecord(req);
      return unpack(reply);
    } finally {
      this.waiting.delete(req.id);
    }
  }

  /** No answer (the owner died mid-command): what its record says; still `sent` = outcome unknown, `timed_out`. */
  private async fromRecord(req: RemoteRequest): Promise<CommandRecord> {
    const raw = await this.d.redis.get(`${this.d.prefix}cmd:${req.id}`);
    const rec = raw ? (JSON.parse(raw) as CommandRecord) : null;
    if (rec && rec.state !== 'sent') return rec;
    const base = rec ?? { id: req.id, unit: req.unit, op: req.op.op, args: req.op, createdAt: this.now() };
    return { ...base, state: 'timed_out', result: 'timed_out', finishedAt: this.now() };
  }

  // ---- the owner's side ----

  private async run(): Promise<void> {
    let lastClaim = 0;
    while (this.running) {
      const units = this.d.owned();
      if (!units.length) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      try {
        const streams = units.map((u) => this.k.stream(u));
        for (const s of streams) await this.ensureGroup(s);
        // a dead owner's pending requests (read, never answered): run or answer them here
        if (this.now() - lastClaim > 2_000) {
          lastClaim = this.now();
          for (const [i, s] of streams.entries()) await this.claimPending(s, units[i]!);
        }
        const res = (await this.reader!.xreadgroup('GROUP', OWNER_GROUP, this.d.gatewayId, 'COUNT', 32, 'BLOCK', 500, 'STREAMS', ...streams, ...streams.map(() => '>'))) as
          | [string, [string, string[]][]][]
          | null;
        for (const [stream, entries] of res ?? []) for (const [entryId, fields] of entries) this.track(this.handle(stream, entryId, fields));
      } catch (err) {
        if (!this.running) break;
        this.log.warn('reading command requests failed; retrying', { err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async ensureGroup(stream: string): Promise<void> {
    if (this.groups.has(stream)) return;
    await this.d.redis.xgroup('CREATE', stream, OWNER_GROUP, '0', 'MKSTREAM').catch((err: Error) => {
      if (!/BUSYGROUP/.test(err.message)) throw err;
    });
    this.groups.add(stream);
  }

  private readonly inHand = new Set<string>();

  private async claimPending(stream: string, unit: string): Promise<void> {
    if (!this.d.holds(unit)) return;
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.d.redis.xautoclaim(stream, OWNER_GROUP, this.d.gatewayId, 1_000, cursor, 'COUNT', 100)) as [string, [string, string[] | null][]];
      cursor = next;
      for (const [id, fields] of entries) if (fields && !this.inHand.has(id)) this.track(this.handle(stream, id, fields));
    } while (cursor !== '0-0' && this.running);
  }

  private track(p: Promise<void>): void {
    const t = p.catch((err: unknown) => this.log.error('command request failed', { err })).finally(() => this.tasks.delete(t));
    this.tasks.add(t);
  }

  private async handle(stream: string, entryId: string, fields: string[]): Promise<void> {
    if (this.inHand.has(entryId)) return;
    this.inHand.add(entryId);
    let done = true;
    try {
      const i = fields.indexOf('req');
      let req: RemoteRequest | null = null;
      try {
        req = i >= 0 ? (JSON.parse(fields[i + 1]!) as RemoteRequest) : null;
      } catch {
        req = null;
      }
      if (!req || typeof req.id !== 'string' || typeof req.unit !== 'string' || !req.op) {
        this.log.warn('malformed command request dropped', { stream, entryId });
        return;
      }
      // lost the unit since reading it: leave it pending for the new owner
      if (!this.d.holds(req.unit)) {
        done = false;
        return;
      }
      if (this.now() > req.deadline) {
        this.log.warn('command request past its deadline dropped unrun', { unit: req.unit, id: req.id });
        return;
      }
      const claimed = await this.d.redis.set(this.k.claim(req.id), this.d.gatewayId, 'PX', CLAIM_TTL_MS, 'NX');
      if (claimed !== 'OK' && (await this.d.redis.get(this.k.claim(req.id))) === 'requester') return; // given up: never run
      const reply = await this.execute(req);
      this.d.counters?.inc('lg_remote_commands_total', { side: 'ran', result: reply.ok ? (reply.record.result ?? reply.record.state) : reply.kind });
      await this.d.redis.publish(this.k.replies(req.replyTo), JSON.stringify(reply));
    } finally {
      if (done) await this.d.redis.multi().xack(stream, OWNER_GROUP, entryId).xdel(stream, entryId).exec();
      this.inHand.delete(entryId);
    }
  }

  private async execute(req: RemoteRequest): Promise<RemoteReply> {
    try {
      // forward = false: only through the driver here (never handed on again)
      return { id: req.id, ok: true, record: await this.d.commands().send(req.unit, req.op, { ...req.opts, id: req.id }, false) };
    } catch (err) {
      if (err instanceof OpenRefused) return { id: req.id, ok: false, kind: 'refused', why: err.why, scope: err.scope, retryAfterMs: err.retryAfterMs };
      if (err instanceof CommandError) return { id: req.id, ok: false, kind: 'command', code: err.code, message: err.message };
      this.log.error('command for another gateway failed', { unit: req.unit, id: req.id, err });
      return { id: req.id, ok: false, kind: 'error', message: (err as Error).message };
    }
  }
}

function unpack(reply: RemoteReply): CommandRecord {
  if (reply.ok) return reply.record;
  if (reply.kind === 'refused') throw new OpenRefused(reply.why, reply.scope, reply.retryAfterMs);
  if (reply.kind === 'command') throw new CommandError(reply.code, reply.message);
  throw new Error(`the gateway serving the unit failed: ${reply.message}`);
}
