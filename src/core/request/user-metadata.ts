import { METADATA_ELIGIBLE_KEYS } from '../config/index.js';
import { ValidationError, type Issue } from '../errors.js';

/** A Debian/RPM package name as the guest's package manager takes it (no options, no paths). */
export const PACKAGE = /^[a-z0-9][a-z0-9+.:=~-]{0,127}$/;

/** The part of a user's `-vm metadata=FILE` cloud-config that may reach the guest. */
export interface EligibleMetadata {
  readonly packages: readonly string[];
  /** package_update, package_upgrade, timezone and locale, when given. */
  readonly settings: Readonly<Record<string, string | boolean>>;
}

const TIMEZONE = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,3}$/;
const LOCALE = /^[A-Za-z][A-Za-z0-9_.@-]{0,63}$/;

/**
 * Picks METADATA_ELIGIBLE_KEYS out of the user's data and re-checks each value's type; every other
 * key (users, bootcmd, runcmd, write_files, disable_root, ssh_authorized_keys, …) is dropped here,
 * whatever the site policy let through, so it can never reach user-data. Bad values of eligible
 * keys are refused (ValidationError 'REQUEST_INVALID').
 */
export function eligibleUserMetadata(data: Readonly<Record<string, unknown>> | null): EligibleMetadata {
  const issues: Issue[] = [];
  const settings: Record<string, string | boolean> = {};
  let packages: string[] = [];
  const refuse = (key: string, value: unknown, expected: string) => issues.push({ source: 'metadata', key, value, expected });
  for (const key of METADATA_ELIGIBLE_KEYS) {
    if (data === null || !Object.hasOwn(data, key)) continue;
    const value = data[key];
    switch (key) {
      case 'packages':
        if (Array.isArray(value) && value.every((p) => typeof p === 'string' && PACKAGE.test(p))) packages = [...value];
        else refuse(key, value, 'a list of package names');
        break;
      case 'package_update':
      case 'package_upgrade':
        if (typeof value === 'boolean') settings[key] = value;
        else refuse(key, value, 'true or false');
        break;
      case 'timezone':
        if (typeof value === 'string' && TIMEZONE.test(value)) settings[key] = value;
        else refuse(key, value, 'a time zone like Europe/Berlin');
        break;
      case 'locale':
        if (typeof value === 'string' && LOCALE.test(value)) settings[key] = value;
        else refuse(key, value, 'a locale like en_US.UTF-8');
        break;
    }
  }
  if (issues.length > 0) throw new ValidationError('REQUEST_INVALID', issues, { fault: 'job' });
  return { packages, settings };
}
