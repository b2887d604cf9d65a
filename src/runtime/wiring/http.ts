import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from '../../config/config.js';

/** The API on PORT; returns its URL. Closing is pushed to `cleanups`. */
export async function serveHttp(
  fetch: (req: Request) => Response | Promise<Response>,
  config: Pick<Config, 'PORT' | 'HOST'>,
  cleanups: (() => Promise<unknown>)[],
): Promise<string> {
  const server = createAdaptorServer({ fetch }) as Server;
  await listen(server, config.PORT, config.HOST);
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${port}`;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError(`PORT ${port} on ${host} is already in use. Set PORT to a free port.`)
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
