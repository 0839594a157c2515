/** A field problem found while validating a request: the field's name and what is wrong with it. */
export interface Violation {
  readonly field: string;
  readonly description: string;
}

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Normalises an email for storage and lookup: trimmed, lower case. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Problems with an email address, if any. */
export function checkEmail(email: string, field = "email"): Violation[] {
  const value = email.trim();
  if (value === "") return [{ field, description: "must not be empty" }];
  if (value.length > 254 || !emailPattern.test(value)) return [{ field, description: "must be a valid email address" }];
  return [];
}

/** Problems with a display name, if any. */
export function checkName(name: string, field = "name"): Violation[] {
  const value = name.trim();
  if (value === "") return [{ field, description: "must not be empty" }];
  if (value.length > 100) return [{ field, description: "must be at most 100 characters" }];
  return [];
}

/** The password policy: 10 to 200 characters, not only one kind of character, not the email. */
export function checkPassword(password: string, email: string, field = "password"): Violation[] {
  if (password.length < 10) return [{ field, description: "must be at least 10 characters" }];
  if (password.length > 200) return [{ field, description: "must be at most 200 characters" }];
  if (/^(.)\1*$/.test(password)) return [{ field, description: "must not repeat a single character" }];
  if (password.toLowerCase() === normalizeEmail(email)) return [{ field, description: "must not be the email address" }];
  return [];
}

/**
 * How long to make a caller wait after `failures` consecutive failed logins for one account:
 * nothing for the first few, then doubling from one second up to a cap. Slows guessing without
 * letting an attacker lock a real user out for long.
 */
export function loginDelayMs(failures: number): number {
  const free = 3;
  if (failures < free) return 0;
  return Math.min(30_000, 1000 * 2 ** (failures - free));
}
