import { FAST_SEED_DIR, FAST_SEED_VERSION } from '../core/contract/guest-seed.v1.js';
import { VtorqueError } from '../core/errors.js';
import { checkGuestSpec, searchDomains, type GuestSpec } from './guest-spec.js';
import { AUTHORIZED_KEYS_DIR, ENV_FILE_PATH, fstabFields, PROFILE_SCRIPT, PROFILE_SCRIPT_PATH, SSHD_SNIPPET, SSHD_SNIPPET_PATH } from './cloud-init.js';
import { eligibleUserMetadata } from '../core/request/index.js';

/**
 * The `vtorque/` part of a VM's NoCloud seed, for images that carry vtorque-seed (the tuned
 * reference image, src/image/guest-files.ts, which reads it): the same facts cloud-init's
 * user-data gives (users, host key, the job files, mounts, DNS), as plain files a POSIX sh applies
 * without parsing YAML. Built from the same GuestSpec as user-data, so the two cannot disagree.
 */
export { FAST_SEED_DIR, FAST_SEED_VERSION };

export interface FastSeedFile {
  /** Absolute guest path: letters, digits, `._-/` only (the guest script refuses anything else). */
  readonly path: string;
  readonly mode: number;
  readonly content: string;
}

export interface FastSeed {
  /** `vtorque/seed.conf`: key=value lines. */
  readonly conf: string;
  /** What `vtorque/files` lists and `vtorque/root/<path>` holds. */
  readonly files: readonly FastSeedFile[];
  /** `vtorque/fstab`: lines to add and mount ('' for none). */
  readonly fstab: string;
}

/**
 * Whether vtorque-seed can start this VM alone: it does users, keys, files, NFS mounts and DNS,
 * not packages, time servers or a user's cloud-config settings; those need cloud-init.
 */
export function fastSeedCovers(spec: GuestSpec): boolean {
  const meta = eligibleUserMetadata(spec.userMetadata);
  // A node file known at seed time (none today: it is written after readiness) stays cloud-init's.
  return spec.packages.length === 0 && meta.packages.length === 0 && Object.keys(meta.settings).length === 0 && spec.ntp.length === 0 && spec.nodeFile === '';
}

const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export function buildFastSeed(spec: GuestSpec): FastSeed {
  checkGuestSpec(spec);
  const { user, dns } = spec;
  const conf = [`version=${FAST_SEED_VERSION}`, `user=${user.name}`, `uid=${user.uid}`, `gid=${user.gid}`, `group=${user.group}`, `hostname=${spec.hostname}`, ''].join('\n');
  const files: FastSeedFile[] = [
    { path: '/etc/ssh/ssh_host_ed25519_key', mode: 0o600, content: ensureNewline(spec.hostKeys.ed25519.private) },
    { path: '/etc/ssh/ssh_host_ed25519_key.pub', mode: 0o644, content: ensureNewline(spec.hostKeys.ed25519.public) },
    { path: SSHD_SNIPPET_PATH, mode: 0o644, content: SSHD_SNIPPET },
    { path: `${AUTHORIZED_KEYS_DIR}/${user.name}`, mode: 0o644, content: `${user.sshAuthorizedKey}\n` },
    { path: PROFILE_SCRIPT_PATH, mode: 0o644, content: PROFILE_SCRIPT },
    { path: ENV_FILE_PATH, mode: 0o644, content: spec.envFile },
  ];
  if (dns !== null) {
    const search = searchDomains(dns.search);
    const lines = [...(dns.domain !== '' ? [`domain ${dns.domain}`] : []), ...(search.length > 0 ? [`search ${search.join(' ')}`] : []), `nameserver ${dns.nameserver}`];
    files.push({ path: '/etc/resolv.conf', mode: 0o644, content: `${lines.join('\n')}\n` });
  }
  for (const f of files) {
    if (!SAFE_PATH.test(f.path) || f.path.includes('/../')) throw new VtorqueError('INTERNAL', `fast seed: unsafe guest path ${f.path}`, { fault: 'node' });
  }
  const fstab = spec.mounts.map((m) => `${fstabFields(m).join(' ')}\n`).join('');
  return { conf, files, fstab };
}

/** `vtorque/files`: one "<mode> <path>" line per file, the mode as four octal digits. */
export function fastSeedManifest(seed: FastSeed): string {
  return seed.files.map((f) => `${f.mode.toString(8).padStart(4, '0')} ${f.path}\n`).join('');
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
