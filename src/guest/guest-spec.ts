import { isIP } from 'node:net';
import { ValidationError, type Issue } from '../core/errors.js';
import { PACKAGE } from '../core/request/index.js';

export type GuestMount =
  | { readonly kind: 'nfs'; readonly source: string; readonly target: string }
  | { readonly kind: 'virtiofs'; readonly tag: string; readonly target: string };

export interface GuestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly group: string;
  /** The per-job public key, one OpenSSH line. */
  readonly sshAuthorizedKey: string;
}

/** What crosses into one job VM through its NoCloud seed. The guest's root is the user: no host secrets. */
export interface GuestSpec {
  readonly hostname: string;
  readonly instanceId: string;
  readonly user: GuestUser;
  /** Our generated per-VM host key, pinned in the job's known_hosts. */
  readonly hostKeys: { readonly ed25519: { readonly private: string; readonly public: string } };
  readonly mounts: readonly GuestMount[];
  readonly dns: { readonly nameserver: string; readonly domain: string; readonly search: string } | null;
  readonly ntp: readonly string[];
  readonly packages: readonly string[];
  /** Initial content of /var/spool/torque/vm/job.env, sourced by /etc/profile.d/vtorque-job.sh (see job-env.ts). */
  readonly envFile: string;
  /** Content of the VM node file, written at /var/spool/torque/aux/<jobId>. */
  readonly nodeFile: string;
  /** The job id made path-safe (jobDirName): letters, digits and ._- only. */
  readonly jobId: string;
  /** The user's `-vm metadata=FILE` data, already policy-checked; only eligible keys are used. */
  readonly userMetadata: Readonly<Record<string, unknown>> | null;
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
export const HOSTNAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);
export const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
export { PACKAGE };
export const JOB_ID = /^[A-Za-z0-9._-]{1,128}$/;
/**
 * Guest groups that grant root or near-root (sudoers, raw disks, /usr/local, the journal, …): with
 * `groupadd -f` an existing group of the same name would become the user's primary group.
 */
const PRIVILEGED_GROUPS = ['root', 'sudo', 'wheel', 'admin', 'adm', 'disk', 'kmem', 'shadow', 'staff', 'docker', 'lxd', 'kvm', 'libvirt', 'libvirt-qemu', 'systemd-journal', 'operator'];
const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const KEY_TYPE = '(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com)';
const PUBLIC_KEY = new RegExp(`^${KEY_TYPE} [A-Za-z0-9+/]+={0,3}(?: [^\\0-\\x1f\\x7f]{0,256})?$`);
const PRIVATE_KEY = /^-----BEGIN ([A-Z0-9 ]{1,40})-----\n[A-Za-z0-9+/=\n]+\n-----END \1-----\n?$/;
const NFS_SOURCE = /^[A-Za-z0-9.:_[\]-]+:\/[^\0-\x20,\x7f]*$/;
const MOUNT_TARGET = /^\/[A-Za-z0-9._/-]+$/;
const VIRTIOFS_TAG = /^[A-Za-z0-9._-]{1,36}$/;
/** Text a YAML document and a POSIX file can carry: no NUL or other C0 control but tab and newline. */
const FILE_TEXT_BAD = /[\0-\x08\x0b-\x1f\x7f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

class Checker {
  readonly issues: Issue[] = [];
  constructor(private readonly source: string) {}

  check(key: string, value: unknown, ok: boolean, expected: string): void {
    if (!ok) this.issues.push({ source: this.source, key, value, expected });
  }
  match(key: string, value: unknown, re: RegExp, expected: string): void {
    this.check(key, value, typeof value === 'string' && re.test(value), expected);
  }
  id(key: string, value: unknown): void {
    this.check(key, value, typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= 0xfffffffe, 'an integer id from 1 to 4294967294');
  }
  path(key: string, value: unknown): void {
    const ok = typeof value === 'string' && MOUNT_TARGET.test(value) && !value.split('/').some((s) => s === '.' || s === '..');
    this.check(key, value, ok, 'an absolute path of letters, digits and ._-/ without . or .. segments');
  }
  host(key: string, value: unknown): void {
    this.check(key, value, typeof value === 'string' && (HOSTNAME.test(value) || isIP(value) !== 0), 'a host name or IP address');
  }
  text(key: string, value: unknown): void {
    this.check(key, value, typeof value === 'string' && !FILE_TEXT_BAD.test(value), 'text without control characters other than tab and newline');
  }
}

/** Refuses (ValidationError 'INTERNAL') a spec the planner should never have produced. */
export function checkGuestSpec(spec: GuestSpec): void {
  const c = new Checker('guest spec');
  c.match('hostname', spec.hostname, HOSTNAME, 'a host name (RFC 1123)');
  c.match('instanceId', spec.instanceId, INSTANCE_ID, 'an instance id of letters, digits and ._:-');
  c.match('user.name', spec.user.name, USER_NAME, 'a user name matching ^[a-z_][a-z0-9_-]{0,31}$');
  c.match('user.group', spec.user.group, USER_NAME, 'a group name matching ^[a-z_][a-z0-9_-]{0,31}$');
  c.check('user.name', spec.user.name, spec.user.name !== 'root', 'a user other than root');
  c.check('user.group', spec.user.group, !PRIVILEGED_GROUPS.includes(spec.user.group), `a group other than ${PRIVILEGED_GROUPS.join(', ')}`);
  c.id('user.uid', spec.user.uid);
  c.id('user.gid', spec.user.gid);
  c.check('user.gid', spec.user.gid, !(spec.user.gid < 100), 'a gid of 100 or more (below is Debian\'s static system groups: sudo, disk, shadow, …)');
  c.match('user.sshAuthorizedKey', spec.user.sshAuthorizedKey, PUBLIC_KEY, 'one OpenSSH public key line without options');
  c.match('hostKeys.ed25519.private', spec.hostKeys.ed25519.private, PRIVATE_KEY, 'a PEM/OpenSSH private key block');
  c.match('hostKeys.ed25519.public', spec.hostKeys.ed25519.public, PUBLIC_KEY, 'one OpenSSH public key line');
  const hostPublic: unknown = spec.hostKeys.ed25519.public;
  c.check('hostKeys.ed25519.public', hostPublic, typeof hostPublic === 'string' && hostPublic.startsWith('ssh-ed25519 '), 'an ssh-ed25519 key');
  spec.mounts.forEach((m, i) => {
    if (m.kind === 'nfs') c.match(`mounts[${i}].source`, m.source, NFS_SOURCE, 'an NFS export host:/path');
    else if (m.kind === 'virtiofs') c.match(`mounts[${i}].tag`, m.tag, VIRTIOFS_TAG, 'a virtiofs tag of at most 36 characters');
    else c.check(`mounts[${i}].kind`, (m as { kind: unknown }).kind, false, 'nfs or virtiofs');
    c.path(`mounts[${i}].target`, m.target);
  });
  if (spec.dns !== null) {
    c.check('dns.nameserver', spec.dns.nameserver, typeof spec.dns.nameserver === 'string' && isIP(spec.dns.nameserver) !== 0, 'an IP address');
    c.match('dns.domain', spec.dns.domain, new RegExp(`^$|${HOSTNAME.source}`), 'a domain name or ""');
    c.check('dns.search', spec.dns.search, typeof spec.dns.search === 'string', 'a string');
    for (const d of searchDomains(String(spec.dns.search))) c.match('dns.search', d, HOSTNAME, 'domain names separated by spaces');
  }
  spec.ntp.forEach((server, i) => c.host(`ntp[${i}]`, server));
  spec.packages.forEach((p, i) => c.match(`packages[${i}]`, p, PACKAGE, 'a package name'));
  c.text('envFile', spec.envFile);
  c.text('nodeFile', spec.nodeFile);
  c.check('jobId', spec.jobId, typeof spec.jobId === 'string' && JOB_ID.test(spec.jobId) && !/^\.{1,2}$/.test(spec.jobId), 'a job id of letters, digits and ._- (not . or ..)');
  if (c.issues.length > 0) throw new ValidationError('INTERNAL', c.issues, { fault: 'node' });
}

export function searchDomains(search: string): string[] {
  return search.split(/[\s,]+/).filter((d) => d !== '');
}
