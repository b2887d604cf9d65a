// Preloaded into the gateway process by `npm run bench` (node --import): counts the Redis commands the gateway
// sends and the round trips they take, and answers the bench's {t:'redis-count'} over IPC. Nothing else changes.
// A command sent on its own is one round trip; the commands of a pipeline or MULTI (ioredis Pipeline, also used by
// auto-pipelining) go out together: one round trip per exec.
import process from 'node:process';
import { Pipeline, Redis } from 'ioredis';

const count = { commands: 0, pipelined: 0, pipelines: 0 };
/** commands sent alone (one round trip each), by name */
const alone = {};
const send = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (cmd, stream, node) {
  count.commands++;
  if (stream) count.pipelined++;
  else alone[cmd.name] = (alone[cmd.name] ?? 0) + 1;
  return send.call(this, cmd, stream, node);
};
const exec = Pipeline.prototype.exec;
Pipeline.prototype.exec = function (...args) {
  count.pipelines++;
  return exec.apply(this, args);
};
process.on('message', (m) => {
  if (m && m.t === 'redis-count') process.send?.({ t: 'redis-count', ...count, alone: { ...alone }, heapUsed: process.memoryUsage().heapUsed });
});
// The bench went away (killed): stop as on SIGTERM (drain, exit) rather than run on alone.
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
