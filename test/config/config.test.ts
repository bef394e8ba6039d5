import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { renderExampleConfig } from '../../src/admin/config/example.js';
import { CONFIG_FIELDS, defaultConfig, loadConfig, parseConfigText, validateConfig } from '../../src/core/config/index.js';
import { ValidationError } from '../../src/core/errors.js';
import { REPO } from '../helpers/site.js';
import { effectiveAlarmSeconds, PROLOG_ALARM_DEFAULT, torqueHookLimit } from '../../src/torque/mom-config.js';
import type { HookLimit } from '../../src/core/config/index.js';

const check = (raw: unknown, ctx = {}) => validateConfig(raw, { source: 'site.yaml', ...ctx });
const lines = (raw: unknown, ctx = {}) => check(raw, ctx).errors.map((e) => `${e.key}|${e.expected}`);

describe('site config', () => {
  it('an empty file means every default, which are the original ones unless documented', () => {
    const { config, errors } = check(null);
    expect(errors).toEqual([]);
    expect(config).toEqual(defaultConfig());
    expect(config).toMatchObject({
      TORQUE_HOME: '/var/spool/torque',
      PBS_QSUB_ON_FE: '/usr/bin/qsub',
      VM_IMG_DIR: '/opt/vm-images',
      WS_DIR: '/workspace/.vtorque',
      RAMDISK_DIR: '/ramdisk',
      MAC_PREFIX: '52:54:00',
      HOST_OS_CORE_COUNT: 1,
      HOST_OS_RAM_MB: 2048,
      PBS_EXCLUSIVE_NODE_ALLOC: true,
      KILL_USER_PROCESSES_AFTER_JOB: true,
      SSH_TIMEOUT: 5,
      TIMEOUT: 120,
      VCPUS_DEFAULT: 7,
      RAM_DEFAULT: 24576,
      VMS_PER_NODE_DEFAULT: 1,
      VCPU_PINNING_DEFAULT: true,
      IOCM_MAX_CORES: 12,
      PARALLEL: true,
      ALLOW_USER_IMAGES: false,
    });
    // Deliberate departures from the original defaults (each documented in doc/admin.md).
    expect(config?.PROLOGUE_TIMEOUT).toBeLessThan(290);
    expect(config?.IOCM_NODES).toBe('.*');
  });

  it('reports every problem at once, one per key, with the accepted form', () => {
    const errs = lines({ VCPUS_DEFAULT: 'many', HOST_OS_RAM_MB: -1, MAC_PREFIX: '53:54:00', TORQUE_HOME: 'relative/path', PARALLEL: 'maybe', BOGUS: 1, FILESYSTEM_TYPE_DEFAULT: 'nfs' });
    expect(errs).toHaveLength(7);
    expect(errs).toContain('VCPUS_DEFAULT|an integer from 1 to 1024');
    expect(errs).toContain('TORQUE_HOME|an absolute path without ".."');
    expect(errs).toContain('MAC_PREFIX|three unicast hex bytes like 52:54:00');
    expect(errs.find((e) => e.startsWith('BOGUS|'))).toMatch(/known key/);
    expect(errs).toContain('FILESYSTEM_TYPE_DEFAULT|one of sharedfs, ramdisk');
  });

  it('suggests the key meant by a typo', () => {
    expect(lines({ VCPUS_DEFUALT: 2 })[0]).toContain('did you mean VCPUS_DEFAULT');
    expect(lines({ vcpus_default: 2 })[0]).toContain('did you mean VCPUS_DEFAULT');
  });

  it('accepts the original spellings: quoted numbers, yes/no, sizes with units', () => {
    const { config } = check({ VCPUS_DEFAULT: '4', PARALLEL: 'no', ALLOW_USER_IMAGES: 'Enabled', RAM_DEFAULT: '8G', UNCLOT_SHMEM_DEFAULT: '1024M' });
    expect(config).toMatchObject({ VCPUS_DEFAULT: 4, PARALLEL: false, ALLOW_USER_IMAGES: true, RAM_DEFAULT: 8192, UNCLOT_SHMEM_DEFAULT: 1024 });
  });

  it('obsolete keys of the original are warned about and ignored', () => {
    const r = check({ ARP_BIN: '/usr/sbin/arp', ENABLE_DEV_MODE: true });
    expect(r.errors).toEqual([]);
    expect(r.warnings.join('\n')).toMatch(/ARP_BIN is obsolete[\s\S]*ENABLE_DEV_MODE is obsolete/);
  });

  it('PROLOGUE_TIMEOUT must stay below the scheduler limit on the prologue (Torque: $prologalarm - 10)', () => {
    const torque = (alarm: number): { hookLimit: HookLimit } => ({ hookLimit: { seconds: effectiveAlarmSeconds(alarm), name: "the mom's $prologalarm - 10" } });
    expect(lines({ PROLOGUE_TIMEOUT: 600 }, torque(PROLOG_ALARM_DEFAULT))[0]).toContain('$prologalarm - 10 = 290');
    expect(lines({ PROLOGUE_TIMEOUT: 100 }, torque(60))[0]).toContain('= 50');
    expect(lines({ PROLOGUE_TIMEOUT: 100, TIMEOUT: 60 }, torque(600))).toEqual([]);
    expect(lines({ PROLOGUE_TIMEOUT: 600 })).toEqual([]); // no scheduler said: nothing to check against
  });

  it('impossible combinations are errors', () => {
    expect(lines({ IOCM_MIN_CORES: 5, IOCM_MAX_CORES: 2 })[0]).toMatch(/^IOCM_MIN_CORES\|at most IOCM_MAX_CORES/);
    expect(lines({ IOCM_MIN_CORES_DEFAULT: 3, IOCM_MAX_CORES_DEFAULT: 2 })[0]).toMatch(/^IOCM_MIN_CORES_DEFAULT/);
    expect(lines({ VMS_PER_NODE_DEFAULT: 8, MAX_VMS_PER_NODE: 4 })[0]).toMatch(/^VMS_PER_NODE_DEFAULT/);
    expect(lines({ CUSTOM_IP_MAPPING: true })[0]).toMatch(/^IP_TO_MAC_SCRIPT/);
    expect(lines({ TIMEOUT: 10, SSH_TIMEOUT: 30 })[0]).toMatch(/^TIMEOUT/);
  });

  it('VM defaults that cannot fit the node are errors when checked on a node', () => {
    const node = { cores: 2, memMiB: 4096 };
    expect(lines({}, { node }).map((l) => l.split('|')[0])).toEqual(['VCPUS_DEFAULT', 'RAM_DEFAULT']);
    expect(lines({ VCPUS_DEFAULT: 1, RAM_DEFAULT: '1G' }, { node })).toEqual([]);
  });

  it('reads $prologalarm from the mom config under TORQUE_HOME', () => {
    const home = mkdtempSync(join(tmpdir(), 'vtq-torque-'));
    mkdirSync(join(home, 'mom_priv'));
    writeFileSync(join(home, 'mom_priv', 'config'), '$pbsserver head\n$prologalarm 120\n');
    expect(() => parseConfigText(`TORQUE_HOME: ${home}\nPROLOGUE_TIMEOUT: 200\n`, 'site.yaml', { hookLimit: torqueHookLimit })).toThrow(/prologalarm - 10 = 110/);
    // vsub's load knows no scheduler limit: Torque's files are read only on the Torque side.
    expect(parseConfigText(`TORQUE_HOME: ${home}\nPROLOGUE_TIMEOUT: 200\n`, 'site.yaml').config.PROLOGUE_TIMEOUT).toBe(200);
  });

  it('loadConfig: explicit path, VTORQUE_CONFIG, absent default file, unreadable explicit file, bad YAML', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'VCPUS_DEFAULT: 3\n');
    expect(loadConfig({ path: file }).config.VCPUS_DEFAULT).toBe(3);
    expect(loadConfig({ env: { VTORQUE_CONFIG: file } }).config.VCPUS_DEFAULT).toBe(3);
    expect(() => loadConfig({ path: join(dir, 'missing.yaml') })).toThrow(/cannot read/);
    writeFileSync(file, 'VCPUS_DEFAULT: [unclosed\n');
    expect(() => loadConfig({ path: file })).toThrow(/not valid YAML/);
    writeFileSync(file, 'VCPUS_DEFAULT: x\nRAM_DEFAULT: y\n');
    try {
      loadConfig({ path: file });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as Error).message.split('\n')).toHaveLength(2);
      expect((e as Error).message).toMatch(new RegExp(`^${file}: VCPUS_DEFAULT = "x": expected`));
    }
  });

  it('the shipped example config lists every key and validates as it stands', () => {
    const example = readFileSync(join(REPO, 'contrib', 'config.yaml'), 'utf8');
    expect(example).toBe(renderExampleConfig());
    for (const key of Object.keys(CONFIG_FIELDS)) expect(example).toContain(`#${key}:`);
    const uncommented = example.split('\n').filter((l) => /^#[A-Z_]+:/.test(l)).map((l) => l.slice(1)).join('\n');
    expect(check(yaml.load(uncommented)).errors).toEqual([]);
  });
});
