/**
 * The other end for bench/stack-floor.ts, in a process of its own so that its CPU is not counted:
 *   units URL N ROUNDS   N MQTT clients over TCP; each publishes `floor/<i>/in` (QoS 1) and waits for `floor/<i>/out`
 *                        before the next, ROUNDS times
 *   http URL N C         N POSTs of a small JSON body, C in flight (fetch, keep-alive)
 *   receiver             an HTTP server on a free port answering 200 to everything (prints its URL, then "ready")
 * Prints "ready" when connected and waits for a line on stdin to start; prints "done" at the end.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';

const [mode, url, nArg, third] = process.argv.slice(2);
const n = Number(nArg);
const lines = createInterface({ input: process.stdin });
const go = once(lines, 'line');

if (mode === 'units') {
  const rounds = Number(third);
  const clients = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const c = await mqtt.connectAsync(url!, { clientId: `floor-unit-${i}`, reconnectPeriod: 0 });
      await c.subscribeAsync(`floor/${i}/out`, { qos: 1 });
      return c;
    }),
  );
  console.log('ready');
  await go;
  await Promise.all(
    clients.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          let left = rounds;
          const next = () => (left-- > 0 ? void c.publish(`floor/${i}/in`, '{"event":"keypad","code":"123456"}', { qos: 1 }) : resolve());
          c.on('message', next);
          next();
        }),
    ),
  );
  await Promise.all(clients.map((c) => c.endAsync()));
} else if (mode === 'http') {
  const c = Number(third);
  console.log('ready');
  await go;
  let left = n;
  const body = JSON.stringify({ unit: 'LSN-0001', size: 'M', phone: '13800000000', carrier: 'SF', trackingNumber: 'SF1234567890' });
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (left-- > 0) {
        const res = await fetch(url!, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        await res.arrayBuffer();
      }
    }),
  );
} else if (mode === 'receiver') {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  console.log(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
  console.log('ready');
  await new Promise(() => {});
} else throw new Error(`unknown mode ${mode}`);
console.log('done');
process.exit(0);
