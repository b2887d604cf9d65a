import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigError, type Config } from '../../config/config.js';
import type { ErrorBody } from '../../http/errors.js';

/** The API on PORT; returns its URL. Closing is pushed to `cleanups`. */
export async function serveHttp(
  fetch: (req: Request) => Response | Promise<Response>,
  config: Pick<Config, 'PORT' | 'HOST'>,
  cleanups: (() => Promise<unknown>)[],
): Promise<string> {
  const server = createAdaptorServer({ fetch }) as Server;
  server.on('clientError', answerClientError);
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

/**
 * A request Node's HTTP parser refuses before the app sees it (headers over Node's 16 KiB limit, a malformed request
 * line, a request that never finished) is answered in the API's error envelope too, not with Node's bare status line.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, body]: [number, string, ErrorBody] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', envelope('headers_too_large', 'the request line and headers are larger than 16 KiB')]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', envelope('bad_request', 'the request did not arrive in time')]
        : [400, 'Bad Request', envelope('bad_request', 'not a well-formed HTTP request')];
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
  );
}

function envelope(code: 'headers_too_large' | 'bad_request', message: string): ErrorBody {
  return { error: { code, message, requestId: randomUUID() } };
}
