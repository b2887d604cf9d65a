/** Every Redis key the gateway writes, in one place. `p` is REDIS_PREFIX (tests use their own). */
export function keys(p: string) {
  return {
    unit: (id: string) => `${p}unit:${id}`,
    compartments: (id: string) => `${p}comp:${id}`,
    events: (id: string) => `${p}events:${id}`,
    dedupe: (id: string) => `${p}dedupe:${id}`,
    command: (id: string) => `${p}cmd:${id}`,
    /** compact-v2: next down message id per unit; persisted so a restarted gateway never reuses a recent m */
    downMsgId: (id: string) => `${p}downm:${id}`,
    /** compact-v2: down m -> command id, so an ack that arrives after a restart still settles its command */
    downMsgMap: (id: string, m: number) => `${p}downmap:${id}:${m}`,
  };
}
export type Keys = ReturnType<typeof keys>;
