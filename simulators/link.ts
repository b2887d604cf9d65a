/**
 * One MQTT connection of a simulated unit. A new MqttLink (and a new mqtt.js client) is made for every connection,
 * with mqtt.js' own reconnection switched off: the unit decides when to reconnect, and nothing mqtt.js buffered on an
 * old connection is silently re-sent on a new one (json-v1 does its own buffering, the others keep nothing).
 */
import { EventEmitter } from 'node:events';
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from '../src/log.js';

export interface LinkConfig {
  clientId: string;
  username: string;
  password: string;
  keepalive: number;
  clean: boolean;
  will: { topic: string; payload: string; qos: 0 | 1; retain: boolean };
  subscriptions: { topic: string; qos: 0 | 1 }[];
}

const CONNECT_TIMEOUT_MS = 5_000;

/** Disable Nagle on the TCP socket: small MQTT packets otherwise wait ~40 ms for delayed ACKs. */
export function noDelay(client: MqttClient): void {
  (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
}
const GRACEFUL_CLOSE_MS = 3_000;

export class MqttLink extends EventEmitter<{ message: [topic: string, payload: Buffer]; close: [] }> {
  private client: MqttClient | null = null;
  private isConnected = false;
  private closed = false;
  /** Settle functions of publishes waiting for their ack; all settle with false when the connection goes. */
  private readonly waiting = new Set<(ok: boolean) => void>();

  constructor(
    private readonly url: string,
    private readonly cfg: LinkConfig,
    private readonly log: Logger,
  ) {
    super();
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Connect and subscribe. Rejects if the broker refuses, does not answer, or refuses a subscription. */
  async open(): Promise<void> {
    const { cfg } = this;
    const client = connect(this.url, {
      clientId: cfg.clientId,
      username: cfg.username,
      password: cfg.password,
      keepalive: cfg.keepalive,
      clean: cfg.clean,
      will: { topic: cfg.will.topic, payload: Buffer.from(cfg.will.payload), qos: cfg.will.qos, retain: cfg.will.retain },
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      resubscribe: false,
    });
    this.client = client;
    client.on('message', (topic, payload) => this.emit('message', topic, payload));
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => {
        noDelay(client);
        client.off('close', onEarlyClose);
        resolve();
      };
      const onEarlyClose = () => {
        client.off('connect', onConnect);
        reject(new Error(`${cfg.clientId}: cannot connect to ${this.url}${lastError ? `: ${lastError.message}` : ''}`));
      };
      let lastError: Error | null = null;
      client.on('error', (err) => {
        lastError = err;
        this.log.warn('mqtt error', { err });
      });
      client.once('connect', onConnect);
      client.once('close', onEarlyClose);
    });
    this.isConnected = true;
    client.on('close', () => this.onClose());
    try {
      if (cfg.subscriptions.length > 0) {
        const granted = await client.subscribeAsync(Object.fromEntries(cfg.subscriptions.map((s) => [s.topic, { qos: s.qos }])));
        const refused = granted.filter((g) => g.qos === 128);
        if (refused.length > 0) throw new Error(`subscription refused: ${refused.map((g) => g.topic).join(', ')}`);
      }
    } catch (err) {
      client.end(true);
      throw err;
    }
  }

  /** Publish; resolves true once acknowledged (QoS 1) or written (QoS 0), false if the connection went first. */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1, retain = false): Promise<boolean> {
    const client = this.client;
    if (!client || !this.isConnected) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let done = false;
      const settle = (ok: boolean) => {
        if (done) return;
        done = true;
        this.waiting.delete(settle);
        resolve(ok);
      };
      this.waiting.add(settle);
      client.publish(topic, payload, { qos, retain }, (err) => settle(!err));
    });
  }

  /** Graceful: wait for outstanding acks, send DISCONNECT (no last will), close. */
  async close(): Promise<void> {
    const client = this.client;
    if (!client || this.closed) return;
    const closing = new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), GRACEFUL_CLOSE_MS).unref());
    if ((await Promise.race([closing, timeout])) === 'timeout') client.end(true);
    this.onClose();
  }

  /** Drop the TCP connection without DISCONNECT: the broker publishes the last will. */
  kill(): Promise<void> {
    const client = this.client;
    if (!client || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.once('close', () => resolve());
      client.end(true);
      // end(true) destroys the socket; 'close' follows on the next ticks. Make sure we settle even if it does not.
      setTimeout(() => this.onClose(), 200).unref();
    });
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.isConnected = false;
    for (const settle of [...this.waiting]) settle(false);
    this.client?.removeAllListeners('message');
    this.emit('close');
  }
}
