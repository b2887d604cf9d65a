/**
 * The embedded MQTT broker of the default run: aedes on a node:net server, MQTT 3.1.1, in-memory persistence
 * (retained messages and persistent sessions last as long as the process). Every CONNECT, PUBLISH, SUBSCRIBE and
 * last will goes through the rules of acl.ts.
 *
 * How aedes enforces them (aedes 1.2):
 * - refused CONNECT: CONNACK return code 4 (bad user name or password), connection closed;
 * - refused PUBLISH: aedes has no "drop silently" outcome; an error from authorizePublish closes the client's
 *   connection without PUBACK (MQTT-3.3.5-2), and nothing is delivered. (Mosquitto instead acknowledges and drops.)
 * - refused SUBSCRIBE: SUBACK with return code 0x80 for that filter; the connection stays open;
 * - last will: not checked at CONNECT; aedes passes the will through authorizePublish when it is about to publish
 *   it, and drops it silently if refused.
 * - aedes 1.2 has no shared subscriptions: it would take `$share/{group}/…` as a literal filter that matches
 *   nothing. acl.ts allows $share for the gateway, but this broker refuses it (SUBACK 0x80, logged) so the failure
 *   is loud. Scale-out over $share needs Mosquitto (or another broker with shared subscriptions).
 * - aedes has no packet size limit: every socket goes through guard.ts first (packet sizes, login timeout, packets
 *   handed over at once). TCP_NODELAY is on: MQTT's small request/answer packets must not wait ~40 ms for Nagle.
 */
import type { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Credentials } from '../config/credentials.js';
import type { UnitProfile } from '../domain/model.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { GuardedConnection, type GuardLimits } from './guard.js';
import { duplexPair } from './pair.js';
import { authenticateDetailed, canPublish, canSubscribe, parseShared, unitClientId, type Principal } from './acl.js';

export interface EmbeddedBroker {
  port: number;
  host: string;
  url: string;
  close(): Promise<void>;
  clients(): number;
  /**
   * A connection to this broker inside the process (pair.ts), for the gateway's own MQTT client: it logs in and is
   * checked by the same rules as any client, without a loopback socket (the guard's limits are for the network).
   */
  connectLocal(): Duplex;
}

export interface EmbeddedBrokerOptions {
  /** Interface to listen on; default 127.0.0.1. Use 0.0.0.0 (or ::) to let real units on the network connect. */
  host?: string;
  /** 0 picks a free port; the real one is in `.port`. */
  port: number;
  credentials: Credentials;
  units: readonly UnitProfile[];
  logger: Logger;
  /** limits against hostile clients (guard.ts); defaults: DEFAULT_BROKER_LIMITS */
  limits?: Partial<GuardLimits>;
  /** counts connections the guard closed (lg_mqtt_refused_total{reason}) */
  counters?: Counters;
}

/** The defaults of MQTT_MAX_PACKET_BYTES, MQTT_GATEWAY_MAX_PACKET_BYTES, MQTT_CONNECT_TIMEOUT_MS, MQTT_MAX_INFLIGHT. */
export const DEFAULT_BROKER_LIMITS: GuardLimits = {
  maxPacketBytes: 16_384,
  gatewayMaxPacketBytes: 262_144,
  connectTimeoutMs: 5_000,
  maxInflight: 16,
};

/** AuthErrorCode.BAD_USERNAME_OR_PASSWORD (a const enum in aedes' types, unusable under isolatedModules). */
const BAD_USERNAME_OR_PASSWORD = 4;

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.logger.child({ component: 'mqtt-broker' });
  const { credentials, units } = opts;
  const limits: GuardLimits = { ...DEFAULT_BROKER_LIMITS, ...opts.limits };

  /** The principal each connected client authenticated as. */
  const principals = new WeakMap<Client, Principal>();

  const principalOf = (client: Client | null, clientId: string | undefined): Principal | null => {
    if (client) return principals.get(client) ?? null;
    // client is null only when aedes publishes the will of a client that is gone (persisted wills of a dead
    // broker). A unit's client id can only have been used by that unit (authenticate enforces it).
    const unit = units.find((u) => unitClientId(u) === clientId);
    return unit ? { kind: 'unit', unit } : null;
  };

  const aedes = await Aedes.createBroker({
    // The gateway's instances use ids like locker-gateway-<random>, longer than MQTT 3.1's 23 characters.
    maxClientsIdLength: 128,
    // The guard closes a connection that has not logged in by then too (this one only covers a missing CONNECT).
    connectTimeout: limits.connectTimeoutMs,
    authenticate(client, username, password, done) {
      const r = authenticateDetailed(credentials, units, client.id, username, password);
      if (r.ok) {
        principals.set(client, r.principal);
        const conn: unknown = client.conn;
        if (conn instanceof GuardedConnection) conn.loggedIn(r.principal.kind);
        log.debug('mqtt client authenticated', { clientId: client.id, username, kind: r.principal.kind });
        done(null, true);
        return;
      }
      log.warn('mqtt connect refused', { clientId: client.id, username, reason: r.reason });
      const err = new Error(`not authorised (${r.reason})`) as AuthenticateError;
      err.returnCode = BAD_USERNAME_OR_PASSWORD;
      done(err, false);
    },
    authorizePublish(client, packet, done) {
      const clientId = client?.id ?? (packet as { clientId?: string }).clientId;
      const p = principalOf(client, clientId);
      if (p && canPublish(p, packet.topic)) {
        done(null);
        return;
      }
      // For a will, aedes calls this with the departing client (or null) and drops the will on error.
      log.warn('mqtt publish refused', { clientId, topic: packet.topic, qos: packet.qos, retain: packet.retain });
      done(new Error(`not authorised to publish to ${packet.topic}`));
    },
    authorizeSubscribe(client, sub, done) {
      const p = principals.get(client);
      if (p && canSubscribe(p, sub.topic)) {
        if (parseShared(sub.topic)?.group == null) {
          done(null, sub);
          return;
        }
        // acl.ts allows $share for the gateway, but aedes would take it as a literal filter matching nothing.
        // Refuse it loudly (SUBACK 0x80) rather than let the gateway wait for messages that never come.
        log.warn('mqtt subscribe refused: the embedded broker (aedes) has no shared subscriptions; use Mosquitto', {
          clientId: client.id,
          topic: sub.topic,
        });
        done(null, null);
        return;
      }
      log.warn('mqtt subscribe refused', { clientId: client.id, topic: sub.topic });
      done(null, null); // SUBACK 0x80 for this filter; the connection stays up
    },
  });
  const emitter: EventEmitter = aedes; // 'error' (e.g. from will housekeeping) is not in aedes' typed overloads
  emitter.on('error', (err: unknown) => log.error('mqtt broker error', { err }));
  aedes.on('clientError', (client, err) => log.debug('mqtt client error', { clientId: client.id, err }));

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    const conn = new GuardedConnection(socket, limits, (reason, detail) => {
      opts.counters?.inc('lg_mqtt_refused_total', { reason });
      log.warn('mqtt connection closed by the guard', { reason, remote: socket.remoteAddress, ...detail });
    });
    conn.on('error', () => undefined); // aedes adds its own listener; a reset before that must not throw
    aedes.handle(conn);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.off('listening', onListening);
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(
                `MQTT_PORT ${opts.port} on ${host} is already in use (is Mosquitto or another broker running?). ` +
                  'Set MQTT_PORT to a free port, or set MQTT_URL to use that broker instead.',
              )
            : new Error(`MQTT broker cannot listen on ${host}:${opts.port}: ${err.message}`),
        );
      };
      const onListening = () => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(opts.port, host);
    });
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  server.on('error', (err) => log.error('mqtt server error', { err }));

  const addr = server.address();
  const port = addr && typeof addr === 'object' ? addr.port : opts.port;
  const url = `mqtt://${urlHost(host)}:${port}`;
  log.info('mqtt broker listening', { host, port });

  let closing: Promise<void> | null = null;
  return {
    port,
    host,
    url,
    clients: () => aedes.connectedClients,
    connectLocal() {
      const [brokerSide, clientSide] = duplexPair();
      // A closed broker refuses, as a closed port does: the connection closes at once (the client retries later).
      if (closing) {
        setImmediate(() => brokerSide.destroy());
        return clientSide;
      }
      brokerSide.on('error', () => undefined); // as for sockets: aedes adds its own listener
      aedes.handle(brokerSide);
      return clientSide;
    },
    close() {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        // Connections that never sent CONNECT are not aedes clients: end them too, or server.close() waits.
        for (const s of sockets) s.destroy();
        await serverClosed;
        log.info('mqtt broker closed', { host, port });
      })();
      return closing;
    },
  };
}
