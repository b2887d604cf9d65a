/**
 * Child process of `npm run bench`: the floor. The same kind of broker as the gateway's (the embedded aedes broker of
 * src/broker/embedded.ts, same limits and ACL) and, in the same process like the gateway's client, a bare responder:
 * every keypad entry in, one open command out, no logic (the compartment is the code's last three digits; no
 * Redis, no parcels, no evidence). It speaks each dialect with the gateway's codecs (devices/*), signing as the
 * gateway does, so the units carry the opens out as they do the gateway's.
 *
 *   child -> parent  {t:'ready', url} | {t:'error', message};  parent -> child {t:'stop'}
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '../../src/broker/embedded.js';
import { loadCredentials, unitKey } from '../../src/config/credentials.js';
import type { UnitProfile } from '../../src/domain/model.js';
import { silentLogger } from '../../src/log.js';
import { compactV2Topics, decodeCompactV2, encodeCompactV2Down, nextMsgId } from '../../devices/compact-v2/codec.js';
import { FrameReader, encodeOpen, frame485Topics, interpretFrame } from '../../devices/frame-485/codec.js';
import { decodeJsonV1, encodeJsonV1Command, jsonV1Topics } from '../../devices/json-v1/codec.js';

const { units, credentialsFile } = JSON.parse(process.argv[2] ?? '{}') as { units: UnitProfile[]; credentialsFile: string };

async function main(): Promise<void> {
  const credentials = loadCredentials({ file: credentialsFile });
  const broker = await startEmbeddedBroker({ port: 0, credentials, units, logger: silentLogger });
  const client = mqtt.connect(broker.url, {
    clientId: `floor-${randomBytes(4).toString('hex')}`,
    username: credentials.gateway.username,
    password: credentials.gateway.password,
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
  });
  client.on('connect', () => (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const byId = new Map(units.map((u) => [u.id, u]));
  const readers = new Map<string, FrameReader>();
  const m = new Map<string, number>();
  const exp = () => Math.floor(Date.now() / 1000) + 60;
  const compartment = (code: string) => Number(code) % 1000;

  client.on('message', (topic, payload) => {
    if (topic.startsWith('lockers/')) {
      const d = decodeJsonV1(topic, payload);
      if (!d.ok || d.message.kind !== 'event' || d.message.event !== 'code-entered') return;
      const sn = d.message.unit;
      const cmd = encodeJsonV1Command(sn, unitKey(credentials, sn)!, { cid: randomBytes(8).toString('hex'), op: 'open', args: { no: compartment(d.message.code) }, exp: exp() });
      client.publish(cmd.topic, cmd.payload, { qos: 1 });
    } else if (topic.startsWith('cab/')) {
      const d = decodeCompactV2(topic, payload);
      if (!d.ok || d.message.kind !== 'event' || d.message.event !== 'code-entered') return;
      const mac = d.message.unit;
      const next = nextMsgId(m.get(mac) ?? Math.floor(Math.random() * 60_000));
      m.set(mac, next);
      const down = encodeCompactV2Down(mac, unitKey(credentials, mac)!, { t: 101, m: next, d: { b: compartment(d.message.code) }, e: exp() });
      client.publish(down.topic, down.payload, { qos: 1 });
    } else if (topic.startsWith('dtu/')) {
      const imei = frame485Topics.parse(topic)?.imei;
      if (!imei || !byId.has(imei)) return;
      let reader = readers.get(imei);
      if (!reader) readers.set(imei, (reader = new FrameReader()));
      for (const f of reader.push(payload).frames) {
        const d = interpretFrame(f, 'from-board');
        if (!d.ok || d.message.command !== 'keypad') continue;
        client.publish(frame485Topics.tx(imei), encodeOpen(compartment(d.message.code)).frame, { qos: 0 });
      }
    }
  });
  const subs = units.map((u) =>
    u.dialect === 'json-v1' ? jsonV1Topics.events(u.id) : u.dialect === 'compact-v2' ? compactV2Topics.up(u.id) : frame485Topics.rx(u.id),
  );
  await client.subscribeAsync(Object.fromEntries(subs.map((topic) => [topic, { qos: topic.startsWith('dtu/') ? 0 : 1 }])) as Record<string, { qos: 0 | 1 }>);
  process.send?.({ t: 'ready', url: broker.url });
  process.on('message', (msg: { t: string }) => {
    if (msg.t !== 'stop') return;
    client.end(true);
    void broker.close().then(() => process.exit(0));
  });
}

process.on('disconnect', () => process.exit(0));
main().catch((err: unknown) => {
  process.send?.({ t: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
