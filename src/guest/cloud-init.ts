import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { ValidationError, VtorqueError, type Issue } from '../core/errors.js';
import { checkGuestSpec, searchDomains, type GuestMount, type GuestSpec } from './guest-spec.js';
import { eligibleUserMetadata } from '../core/request/index.js';
import { ENV_FILE_PATH, NODE_FILE_DIR, PROFILE_SCRIPT_PATH, VM_SPOOL_DIR } from '../core/contract/guest-layout.v1.js';

/** Root-owned base cloud-config in `templates-vm/`. */
export const USER_DATA_BASE = 'user-data.base.yaml';
export { ENV_FILE_PATH, NODE_FILE_DIR, PROFILE_SCRIPT_PATH, VM_SPOOL_DIR };
/**
 * Per-job keys live in root-owned /etc/ssh/authorized_keys/<user>, never in the home directory:
 * that is the user's real (NFS or virtiofs) home, where root-squash makes the write fail and where
 * per-job keys would otherwise pile up.
 */
export const AUTHORIZED_KEYS_DIR = '/etc/ssh/authorized_keys';
export const SSHD_SNIPPET_PATH = '/etc/ssh/sshd_config.d/50-vtorque.conf';

export const SSHD_SNIPPET = [
  '# vTorque: job keys are root-owned and outside the shared home; no root or password logins.',
  `AuthorizedKeysFile ${AUTHORIZED_KEYS_DIR}/%u`,
  'PermitRootLogin no',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  '',
].join('\n');

export const PROFILE_SCRIPT = [
  '# vTorque: the job environment (PBS_*), replaced by the job runner before the job starts.',
  `if [ -r ${ENV_FILE_PATH} ]; then`,
  `  . ${ENV_FILE_PATH}`,
  'fi',
  '',
].join('\n');

export type UserDataBase = Readonly<Record<string, unknown>>;

/** Set last, whatever the base or the user said. */
const SECURITY = { disable_root: true, ssh_deletekeys: true } as const;
/**
 * Base keys that must have this value and are then left out of the user-data. `ssh_pwauth: false`
 * makes cloud-init's set_passwords edit sshd_config and restart sshd in its config stage, i.e. just
 * after the guest first accepts our login: the job's own connection is then refused. Password
 * logins are off anyway: SSHD_SNIPPET (written before sshd first starts) says so and the job
 * user's password is locked.
 */
const FIXED_AND_DROPPED = { ssh_pwauth: false } as const;
/** Keys the code computes; the base file may not set them (users only as the `[]` placeholder). */
const COMPUTED_KEYS = [
  'users', 'groups', 'bootcmd', 'runcmd', 'write_files', 'mounts', 'mount_default_fields', 'ssh_keys',
  'ssh_genkeytypes', 'ssh_authorized_keys', 'manage_resolv_conf', 'resolv_conf', 'ntp', 'packages',
  'hostname', 'fqdn', 'chpasswd', 'password', 'merge_how', 'merge_type', 'system_info',
];

/**
 * YAML that a YAML 1.1 reader (cloud-init's PyYAML) and a 1.2 reader read alike: every string is
 * double-quoted, so nothing like 0644, 1_000, yes or a MAC address can turn into a number or boolean.
 */
export function dumpYaml(value: unknown): string {
  return yaml.dump(value, { noRefs: true, lineWidth: -1, forceQuotes: true, quotingType: '"' });
}

/** Parse and check the base file's text; `source` names it in errors. */
export function parseUserDataBase(text: string, source = USER_DATA_BASE): UserDataBase {
  let data: unknown;
  try {
    data = yaml.load(text, { schema: yaml.JSON_SCHEMA, filename: source });
  } catch (err) {
    throw new VtorqueError('CONFIG_INVALID', `${source}: not valid YAML`, { cause: err, fault: 'node' });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new VtorqueError('CONFIG_INVALID', `${source}: expected a mapping of cloud-config keys`, { fault: 'node' });
  }
  const base: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  const issues: Issue[] = [];
  for (const key of COMPUTED_KEYS.filter((k) => Object.hasOwn(base, k))) {
    if (key === 'users' && Array.isArray(base.users) && base.users.length === 0) continue;
    issues.push({ source, key, value: base[key], expected: 'no value: vTorque computes this key' });
  }
  for (const [key, fixed] of Object.entries({ ...SECURITY, ...FIXED_AND_DROPPED })) {
    if (Object.hasOwn(base, key) && base[key] !== fixed) issues.push({ source, key, value: base[key], expected: String(fixed) });
  }
  if (issues.length > 0) throw new ValidationError('CONFIG_INVALID', issues, { fault: 'node' });
  delete base.users;
  for (const key of Object.keys(FIXED_AND_DROPPED)) delete base[key];
  return base;
}

/** Read `templates-vm/user-data.base.yaml` from the (root-owned) template directory. */
export function loadUserDataBase(templatesVmDir: string): UserDataBase {
  const file = join(templatesVmDir, USER_DATA_BASE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VtorqueError('INTERNAL', `template ${file} cannot be read`, { cause: err, fault: 'node' });
  }
  return parseUserDataBase(text, file);
}

/** The cloud-config object for one VM, before serialisation (exported for tests and `vtorque status`). */
export function userDataObject(spec: GuestSpec, base: UserDataBase): Record<string, unknown> {
  checkGuestSpec(spec);
  const meta = eligibleUserMetadata(spec.userMetadata);
  const { user, dns } = spec;
  const packages = [...new Set([...spec.packages, ...meta.packages])];
  return {
    ...base,
    ...meta.settings,
    // Runs as a list, each word shell-quoted by cloud-init, on every boot and before users-groups,
    // hence numeric ids (checkGuestSpec validated them as integers). -f: a group of that name
    // already exists, keep it; -o: the gid may be shared with an image group.
    bootcmd: [
      ['groupadd', '-f', '-o', '-g', String(user.gid), user.group],
      ...[NODE_FILE_DIR, VM_SPOOL_DIR].map((dir) => ['install', '-d', '-m', '0755', '-o', String(user.uid), '-g', String(user.gid), dir]),
    ],
    // No ssh_authorized_keys: cloud-init would write them into the (shared) home.
    users: [{ name: user.name, uid: user.uid, primary_group: user.group, lock_passwd: true, shell: '/bin/bash' }],
    // With ssh_keys set cloud-init generates no other host key, so ssh_genkeytypes is left out
    // (its schema also refuses an empty list).
    ssh_keys: { ed25519_private: spec.hostKeys.ed25519.private, ed25519_public: spec.hostKeys.ed25519.public },
    // write_files runs after bootcmd and before sshd starts. ENV_FILE_PATH stays root-owned in the
    // user's directory: the job runner replaces it (write a new file, rename over), never rewrites it.
    write_files: [
      rootFile(SSHD_SNIPPET_PATH, SSHD_SNIPPET),
      rootFile(`${AUTHORIZED_KEYS_DIR}/${user.name}`, `${user.sshAuthorizedKey}\n`),
      rootFile(PROFILE_SCRIPT_PATH, PROFILE_SCRIPT),
      rootFile(ENV_FILE_PATH, spec.envFile),
      // Empty until readiness: the hook writes the node file once the guests' IPs are known.
      ...(spec.nodeFile === '' ? [] : [rootFile(`${NODE_FILE_DIR}/${spec.jobId}`, spec.nodeFile)]),
    ],
    ...(spec.mounts.length > 0 && { mounts: spec.mounts.map(fstabFields) }),
    ...(dns !== null && {
      manage_resolv_conf: true,
      resolv_conf: {
        nameservers: [dns.nameserver],
        ...(searchDomains(dns.search).length > 0 && { searchdomains: searchDomains(dns.search) }),
        ...(dns.domain !== '' && { domain: dns.domain }),
      },
    }),
    ...(spec.ntp.length > 0 && { ntp: { enabled: true, servers: [...spec.ntp] } }),
    ...(packages.length > 0 && { packages }),
    ...SECURITY,
  };
}

/** A mount's six fstab fields (cloud-init's `mounts` and vtorque-seed's fstab alike); nofail: a mount never stops the boot. */
export function fstabFields(m: GuestMount): string[] {
  return m.kind === 'nfs' ? [m.source, m.target, 'nfs', 'rw,noatime,nofail', '0', '0'] : [m.tag, m.target, 'virtiofs', 'defaults,nofail', '0', '0'];
}

function rootFile(path: string, content: string): Record<string, string> {
  return { path, content, owner: 'root:root', permissions: '0644' };
}

/** NoCloud `user-data`: `#cloud-config` and the YAML of userDataObject. */
export function buildUserData(spec: GuestSpec, base: UserDataBase): string {
  return `#cloud-config\n${dumpYaml(userDataObject(spec, base))}`;
}

/** NoCloud `meta-data`: a fresh instance-id per job, so cloud-init runs fully, and the host name. */
export function buildMetaData(spec: GuestSpec): string {
  checkGuestSpec(spec);
  return dumpYaml({ 'instance-id': spec.instanceId, 'local-hostname': spec.hostname });
}

/** NoCloud `network-config` (version 2): DHCP on the NIC with our MAC, whatever the guest names it. */
export function buildNetworkConfig(mac: string): string {
  if (!/^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/i.test(mac)) {
    throw new ValidationError('INTERNAL', [{ source: 'network-config', key: 'mac', value: mac, expected: 'a unicast MAC address' }], { fault: 'node' });
  }
  return dumpYaml({ version: 2, ethernets: { primary: { match: { macaddress: mac.toLowerCase() }, dhcp4: true } } });
}
