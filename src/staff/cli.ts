import { parseArgs } from 'node:util';
import { StaffError } from './errors.js';
import type { StaffService } from './service.js';
import { STAFF_ROLES, type StaffMember, type StaffRole } from './types.js';

/** What a staff command needs from its surroundings (the process, or a test). */
export interface CliIo {
  readPassword(prompt: string): Promise<string>;
  out(line: string): void;
  err(line: string): void;
}

/** The commands of `npm run staff` (scripts/staff.ts wires them to the process, Redis and standard input). */
export const USAGE = `usage: npm run staff -- <command> [options]
  add --name NAME [--role staff|admin]   (password from standard input)
  list
  disable --name NAME | enable --name NAME
  reset --name NAME                      (new password from standard input)
  role --name NAME --role staff|admin
  token --name NAME [--label TEXT]       (prints the token once)
  tokens [--name NAME]
  revoke-token --id TOKEN_ID`;

class UsageError extends Error {}

const row = (m: StaffMember) =>
  [m.id, m.name.padEnd(16), m.role.padEnd(5), m.active ? 'active  ' : 'disabled', new Date(m.createdAt).toISOString()].join('  ');

async function run(argv: string[], staff: StaffService, io: CliIo): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { name: { type: 'string' }, role: { type: 'string' }, label: { type: 'string' }, id: { type: 'string' } },
    strict: true,
  });
  const role = (): StaffRole => {
    const r = values.role ?? 'staff';
    if (!(STAFF_ROLES as readonly string[]).includes(r)) throw new UsageError(`--role ${r}: must be staff or admin`);
    return r as StaffRole;
  };
  const member = async (): Promise<StaffMember> => {
    if (!values.name) throw new UsageError(`${command}: --name NAME is required`);
    const m = await staff.byName(values.name);
    if (!m) throw new StaffError('not_found', `no staff member named ${values.name}`);
    return m;
  };
  switch (command) {
    case 'add': {
      if (!values.name) throw new UsageError('add: --name NAME is required');
      const r = role();
      const m = await staff.add({ name: values.name, role: r, password: await io.readPassword(`password for ${values.name}: `) });
      io.out(`added ${m.name} (${m.role}) ${m.id}`);
      return;
    }
    case 'list':
      for (const m of await staff.list()) io.out(row(m));
      return;
    case 'disable':
    case 'enable': {
      const m = await staff.setActive((await member()).id, command === 'enable');
      io.out(`${m.name} is ${m.active ? 'enabled' : 'disabled'}`);
      return;
    }
    case 'reset': {
      const m = await member();
      await staff.resetPassword(m.id, await io.readPassword(`new password for ${m.name}: `));
      io.out(`password of ${m.name} reset; their sessions ended`);
      return;
    }
    case 'role': {
      if (!values.role) throw new UsageError('role: --role staff|admin is required');
      const m = await staff.setRole((await member()).id, role());
      io.out(`${m.name} is ${m.role}`);
      return;
    }
    case 'token': {
      const m = await member();
      const { token, record } = await staff.issueToken(m.id, values.label ?? 'script');
      io.err(`API token ${record.id} for ${m.name} (shown once; revoke with: npm run staff -- revoke-token --id ${record.id})`);
      io.out(token);
      return;
    }
    case 'tokens': {
      const of = values.name ? (await member()).id : undefined;
      for (const t of await staff.tokens(of)) {
        io.out([t.id, t.memberId, t.label.padEnd(12), t.revokedAt ? 'revoked' : 'active ', new Date(t.createdAt).toISOString()].join('  '));
      }
      return;
    }
    case 'revoke-token': {
      if (!values.id) throw new UsageError('revoke-token: --id TOKEN_ID is required');
      const t = await staff.revokeToken(values.id);
      io.out(`token ${t.id} revoked`);
      return;
    }
    default:
      throw new UsageError(command ? `unknown command ${command}` : 'a command is required');
  }
}


/** Runs one `npm run staff` command; returns the exit code (0 done, 1 refused, 2 usage). */
export async function runStaffCommand(argv: string[], staff: StaffService, io: CliIo): Promise<number> {
  try {
    await run(argv, staff, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      io.err(`staff: ${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof StaffError) {
      io.err(`staff: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
