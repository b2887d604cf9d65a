/**
 * Writes a Mosquitto configuration (mosquitto.conf, passwd, acl) that enforces the gateway's broker rules.
 *
 *   npm run mosquitto:config -- --out DIR [--credentials FILE] [--port 1883] [--host ADDR] [--user NAME]
 *
 * Credentials: --credentials FILE, else CREDENTIALS_JSON / CREDENTIALS_FILE from the environment, else the
 * development file config/credentials.dev.json (with a warning). See docs/mosquitto.md.
 */
import { parseArgs } from 'node:util';
import { DEV_CREDENTIALS_FILE, loadCredentials } from '../src/config/credentials.js';
import { writeMosquittoConfig } from '../src/broker/mosquitto.js';
import { loadUnits } from '../src/config/units-file.js';

const USAGE =
  'usage: npm run mosquitto:config -- --out DIR [--credentials FILE] [--port 1883] [--host ADDR] [--user NAME]';

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      credentials: { type: 'string' },
      port: { type: 'string', default: '1883' },
      host: { type: 'string' },
      user: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.out) throw new Error(`--out DIR is required\n${USAGE}`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port ${values.port}: not a TCP port`);

  let credentials;
  if (values.credentials) credentials = loadCredentials({ file: values.credentials });
  else if (process.env.CREDENTIALS_JSON || process.env.CREDENTIALS_FILE) {
    credentials = loadCredentials({ json: process.env.CREDENTIALS_JSON, file: process.env.CREDENTIALS_FILE });
  } else {
    console.error(`warning: no --credentials, CREDENTIALS_JSON or CREDENTIALS_FILE: using the DEVELOPMENT credentials ${DEV_CREDENTIALS_FILE}`);
    credentials = loadCredentials({ file: DEV_CREDENTIALS_FILE });
  }

  const { confPath, aclPath, passwdPath } = writeMosquittoConfig({
    dir: values.out,
    port,
    host: values.host,
    credentials,
    // the gateway's units: UNITS_FILE when set, else the three real ones
    units: loadUnits(process.env.UNITS_FILE),
    runAsUser: values.user,
  });
  console.log(`wrote ${confPath}\n      ${passwdPath}\n      ${aclPath}`);
  console.log(`start: mosquitto -c ${confPath}`);
  console.log(`gateway: MQTT_URL=mqtt://<broker host>:${port} (user ${credentials.gateway.username})`);
}

try {
  main();
} catch (e) {
  console.error(`mosquitto-config: ${(e as Error).message}`);
  process.exitCode = 1;
}
