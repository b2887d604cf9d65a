/** Mainland mobile numbers: 11 digits starting with 1, written with or without +86 / 0086 and separators. */
const MOBILE = /^1[3-9]\d{9}$/;

/** The 11-digit form of a mainland mobile number, or null when it is not one. */
export function normalizePhone(input: string): string | null {
  let digits = input.replace(/[\s()-]/g, '');
  if (digits.startsWith('+86')) digits = digits.slice(3);
  else if (digits.startsWith('0086')) digits = digits.slice(4);
  else if (digits.length === 13 && digits.startsWith('86')) digits = digits.slice(2);
  return MOBILE.test(digits) ? digits : null;
}

/** E.164 form for the SMS provider: +8613800138000. */
export function toE164(phone: string): string {
  return `+86${phone}`;
}

/** 138****5678: what logs, failure lists and staff pages show instead of the number. */
export function maskPhone(phone: string | undefined | null): string {
  if (!phone) return '';
  const n = normalizePhone(phone) ?? phone.replace(/\D/g, '');
  if (n.length < 7) return '*'.repeat(n.length);
  return `${n.slice(0, 3)}${'*'.repeat(n.length - 7)}${n.slice(-4)}`;
}
