import { describe, expect, it } from 'vitest';
import { parseUidRange } from './fields.js';
import { CONFIG_FIELDS } from './schema.js';
import { defaultConfig, validateConfig } from './validate.js';

const check = (raw: unknown) => validateConfig(raw, { source: 'site.yaml' });
const errors = (raw: unknown) => check(raw).errors.map((e) => `${e.key}|${e.expected}`);
const RANGE_EXPECTED = 'a range START-END of ids with 1000 <= START <= END <= 4294967294 and END - START < 1000000 (or "" for none)';

describe('QEMU_USER and QEMU_UIDS', () => {
  it('defaults: job-uid with a reserved range; libvirt and owner are choices', () => {
    expect([defaultConfig().QEMU_USER, defaultConfig().QEMU_UIDS]).toEqual(['job-uid', '2145000000-2145009999']);
    expect(CONFIG_FIELDS.QEMU_USER.expected).toBe('one of job-uid, libvirt, owner');
    expect(check({ QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145009999' }).config).toMatchObject({ QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145009999' });
    expect(errors({ QEMU_USER: 'nobody' })).toEqual(['QEMU_USER|one of job-uid, libvirt, owner']);
  });

  it.each([
    ['2145000000-2145009999', '2145000000-2145009999'],
    [' 1000 - 1000 ', '1000-1000'],
    ['01000-2000', '1000-2000'],
    ['4294967294-4294967294', '4294967294-4294967294'],
    ['2000000-2999999', '2000000-2999999'],
    ['', ''],
  ])('accepts %j as %j', (given, normalised) => {
    expect(check({ QEMU_USER: 'libvirt', QEMU_UIDS: given })).toMatchObject({ errors: [], config: { QEMU_UIDS: normalised } });
  });

  it.each([
    ['999-2000', 'START below 1000'],
    ['0-10', 'system ids'],
    ['3000-2000', 'END below START'],
    ['4294967294-4294967295', 'END is (uid_t)-1'],
    ['4294967295-4294967295', 'START is (uid_t)-1'],
    ['99999999999-99999999999', 'beyond 32 bits'],
    ['2000000-3000000', 'END - START = 10^6'],
    ['2145000000', 'a single id'],
    ['2145000000-', 'no END'],
    ['-5-10', 'negative'],
    ['1e4-2e4', 'exponents'],
    ['2145000000:2145009999', 'a colon'],
    ['2145000000-2145009999\n', 'a trailing newline'],
  ])('refuses %j (%s)', (given) => {
    expect(errors({ QEMU_UIDS: given })).toEqual([`QEMU_UIDS|${RANGE_EXPECTED}`]);
  });

  it('refuses a range that is not a string', () => {
    expect(errors({ QEMU_UIDS: 2145000000 })).toEqual([`QEMU_UIDS|${RANGE_EXPECTED}`]);
    expect(errors({ QEMU_UIDS: ['1000-2000'] })).toEqual([`QEMU_UIDS|${RANGE_EXPECTED}`]);
  });

  it('QEMU_USER job-uid needs QEMU_UIDS; the other modes do not', () => {
    expect(check({ QEMU_USER: 'job-uid', QEMU_UIDS: '' }).errors).toEqual([
      { source: 'site.yaml', key: 'QEMU_UIDS', value: '', expected: 'a range START-END of uids no user or group has (e.g. 2145000000-2145009999) when QEMU_USER is job-uid' },
    ]);
    expect(check({ QEMU_USER: 'job-uid', QEMU_UIDS: '' }).config).toBeNull();
    expect(errors({ QEMU_USER: 'owner' })).toEqual([]);
    expect(errors({ QEMU_USER: 'libvirt', QEMU_UIDS: '2145000000-2145009999' })).toEqual([]);
  });

  it('the descriptions say what the range must avoid and which gid qemu gets', () => {
    expect(CONFIG_FIELDS.QEMU_UIDS.doc).toMatch(/must not overlap any real user's uid or any group's gid/);
    expect(CONFIG_FIELDS.QEMU_UIDS.doc).toMatch(/gid is the kvm group's when that group exists .*else the same number as the uid/);
    expect(CONFIG_FIELDS.QEMU_USER.doc).toMatch(/job-uid: a dedicated unprivileged uid per job from QEMU_UIDS that belongs to nobody/);
  });

  it('parseUidRange', () => {
    expect(parseUidRange('1000-1999')).toEqual({ start: 1000, end: 1999 });
    expect(parseUidRange('1000-1000999')).toEqual({ start: 1000, end: 1000999 }); // END - START = 10^6 - 1
    expect(parseUidRange('1000-1001000')).toBeUndefined(); // END - START = 10^6
    expect(parseUidRange('')).toBeUndefined();
  });
});
