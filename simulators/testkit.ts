/**
 * Test support for the simulators: an in-process aedes broker without authentication, and a plain MQTT client that
 * records everything it receives (the "gateway" in tests). It only moves bytes: tests build and check payloads
 * themselves from the vendor documents.
 */
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { connectAsync, type MqttClient } from 'mqtt';
import { noDelay } from './link.js';

export interface ConnectInfo {
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  keepalive: number | undefined;
  clean: boolean | undefined;
  will: { topic: string; payload: string; qos: number | undefined; retain: boolean | undefined } | null;
}

export interface TestBroker {
  url: string;
  aedes: Aedes;
  /** Every CONNECT the broker accepted, in order. */
  connects: ConnectInfo[];
  close(): Promise<void>;
}

export async function startTestBroker(): Promise<TestBroker> {
  const aedes = await Aedes.createBroker();
  const connects: ConnectInfo[] = [];
  aedes.preConnect = (_client, packet, done) => {
    connects.push({
      clientId: packet.clientId,
      username: packet.username,
      password: packet.password?.toString('utf8'),
      keepalive: packet.keepalive,
      clean: packet.clean,
      will: packet.will
        ? {
            topic: packet.will.topic,
            payload: Buffer.from(packet.will.payload).toString('utf8'),
            qos: packet.will.qos,
            retain: packet.will.retain,
          }
        : null,
    });
    done(null, true);
  };
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    aedes,
    connects,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
  /** Position in Probe.messages. */
  index: number;
}

/** A plain MQTT client recording every message on its subscriptions. */
export class Probe {
  readonly messages: Received[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, retain: packet.retain, qos: packet.qos, index: this.messages.length });
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    });
  }

  static async connect(url: string, subscriptions: Record<string, 0 | 1>): Promise<Probe> {
    const client = await connectAsync(url, { clientId: `probe-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0 });
    noDelay(client);
    const probe = new Probe(client);
    await client.subscribeAsync(Object.fromEntries(Object.entries(subscriptions).map(([t, qos]) => [t, { qos }])));
    return probe;
  }

  /** Index of the next message: pass as `from` to look only at what arrives after this point. */
  mark(): number {
    return this.messages.length;
  }

  find(pred: (m: Received) => boolean, from = 0): Received[] {
    return this.messages.slice(from).filter(pred);
  }

  /** The first message from `from` on that matches; waits for it up to `timeoutMs`. */
  async waitFor(pred: (m: Received) => boolean, opts: { from?: number; timeoutMs?: number; what?: string } = {}): Promise<Received> {
    const deadline = Date.now() + (opts.timeoutMs ?? 3_000);
    for (;;) {
      const hit = this.messages.slice(opts.from ?? 0).find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${opts.what ?? 'a message'}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  publish(topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos });
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

export const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
