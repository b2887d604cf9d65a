/** Refusals of the staff service. Domain errors carry no HTTP; the routes and the CLI map them. */
export type StaffErrorCode = 'invalid' | 'not_found' | 'conflict' | 'last_admin' | 'wrong_password';

export class StaffError extends Error {
  override name = 'StaffError';
  constructor(
    readonly code: StaffErrorCode,
    message: string,
    /** the input field at fault, for `invalid` */
    readonly field?: string,
  ) {
    super(message);
  }
}
