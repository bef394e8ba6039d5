import type { Issue } from '../errors.js';
import type { SiteConfig } from './schema.js';

/** What the rules may know about the place the config is used; each part is optional. */
export interface ConfigContext {
  /** Source label for messages, usually the file path. */
  source: string;
  /** The time the scheduler gives the prologue before it kills it (its adapter reads it). */
  hookLimit?: HookLimit;
  /** Capacity of the node the config is checked on. */
  node?: { cores: number; memMiB: number };
}

/** A scheduler's limit on the prologue: seconds, and what it is called there (for the message). */
export interface HookLimit {
  readonly seconds: number;
  readonly name: string;
}

type Rule = (c: SiteConfig, ctx: ConfigContext) => Issue | undefined;

/** Why virtiofs is refused here, in one clause (the rules' messages and build-guest-spec share it). */
export const VIRTIOFS_REFUSED = "virtiofs is refused: libvirt 9 runs virtiofsd as root in passthrough mode with no id mapping, so root in any guest would get root's access to the shared directory";
const VIRTIOFS_KEYS = [
  ['VM_VIRTIOFS_HOME', 'VM_NFS_HOME'],
  ['VM_VIRTIOFS_WS', 'VM_NFS_WS'],
  ['VM_VIRTIOFS_OPT', 'VM_NFS_OPT'],
] as const;
const NFS_KEYS = ['VM_NFS_HOME', 'VM_NFS_WS', 'VM_NFS_OPT'] as const;

const issue = (ctx: ConfigContext, key: string, value: unknown, expected: string): Issue => ({
  source: ctx.source,
  key,
  value,
  expected,
});

/** Cross-field rules: combinations that cannot work even though every value is well-formed. */
export const CONFIG_RULES: readonly Rule[] = [
  function prologueTimeoutBelowAlarm(c, ctx) {
    // Only where the scheduler's adapter said (the hooks, doctor, config check); vsub does not.
    if (ctx.hookLimit === undefined || c.PROLOGUE_TIMEOUT < ctx.hookLimit.seconds) return undefined;
    return issue(ctx, 'PROLOGUE_TIMEOUT', c.PROLOGUE_TIMEOUT, `less than ${ctx.hookLimit.name} = ${ctx.hookLimit.seconds} s, or the scheduler kills the prologue first`);
  },
  function stepTimeoutWithinPrologue(c, ctx) {
    if (c.SSH_TIMEOUT <= c.TIMEOUT && c.TIMEOUT <= c.PROLOGUE_TIMEOUT) return undefined;
    return issue(ctx, 'TIMEOUT', c.TIMEOUT, `SSH_TIMEOUT (${c.SSH_TIMEOUT}) <= TIMEOUT <= PROLOGUE_TIMEOUT (${c.PROLOGUE_TIMEOUT})`);
  },
  function iocmGlobalRange(c, ctx) {
    if (c.IOCM_MIN_CORES <= c.IOCM_MAX_CORES) return undefined;
    return issue(ctx, 'IOCM_MIN_CORES', c.IOCM_MIN_CORES, `at most IOCM_MAX_CORES (${c.IOCM_MAX_CORES})`);
  },
  function iocmDefaultRange(c, ctx) {
    if (c.IOCM_MIN_CORES_DEFAULT <= c.IOCM_MAX_CORES_DEFAULT) return undefined;
    return issue(ctx, 'IOCM_MIN_CORES_DEFAULT', c.IOCM_MIN_CORES_DEFAULT, `at most IOCM_MAX_CORES_DEFAULT (${c.IOCM_MAX_CORES_DEFAULT})`);
  },
  function iocmDefaultsWithinLimits(c, ctx) {
    if (!c.IOCM_ENABLED) return undefined;
    if (c.IOCM_MIN_CORES_DEFAULT >= c.IOCM_MIN_CORES && c.IOCM_MAX_CORES_DEFAULT <= c.IOCM_MAX_CORES) return undefined;
    return issue(ctx, 'IOCM_MAX_CORES_DEFAULT', c.IOCM_MAX_CORES_DEFAULT, `within IOCM_MIN_CORES..IOCM_MAX_CORES (${c.IOCM_MIN_CORES}..${c.IOCM_MAX_CORES})`);
  },
  function vmsPerNodeWithinMax(c, ctx) {
    if (c.VMS_PER_NODE_DEFAULT <= c.MAX_VMS_PER_NODE) return undefined;
    return issue(ctx, 'VMS_PER_NODE_DEFAULT', c.VMS_PER_NODE_DEFAULT, `at most MAX_VMS_PER_NODE (${c.MAX_VMS_PER_NODE})`);
  },
  function customMappingNeedsScript(c, ctx) {
    if (!c.CUSTOM_IP_MAPPING || c.IP_TO_MAC_SCRIPT !== '') return undefined;
    return issue(ctx, 'IP_TO_MAC_SCRIPT', c.IP_TO_MAC_SCRIPT, 'an absolute program path when CUSTOM_IP_MAPPING is true');
  },
  function defaultCoresFitNode(c, ctx) {
    if (!ctx.node) return undefined;
    const need = c.VCPUS_DEFAULT * c.VMS_PER_NODE_DEFAULT + c.HOST_OS_CORE_COUNT + (c.IOCM_ENABLED && c.IOCM_ENABLED_DEFAULT ? c.IOCM_MAX_CORES_DEFAULT : 0);
    if (need <= ctx.node.cores) return undefined;
    return issue(ctx, 'VCPUS_DEFAULT', c.VCPUS_DEFAULT, `defaults that fit this node: VCPUS_DEFAULT x VMS_PER_NODE_DEFAULT + HOST_OS_CORE_COUNT = ${need} cores, the node has ${ctx.node.cores}`);
  },
  function defaultRamFitsNode(c, ctx) {
    if (!ctx.node) return undefined;
    const need = c.RAM_DEFAULT * c.VMS_PER_NODE_DEFAULT + c.HOST_OS_RAM_MB;
    if (need <= ctx.node.memMiB) return undefined;
    return issue(ctx, 'RAM_DEFAULT', c.RAM_DEFAULT, `defaults that fit this node: RAM_DEFAULT x VMS_PER_NODE_DEFAULT + HOST_OS_RAM_MB = ${need} MiB, the node has ${ctx.node.memMiB} MiB`);
  },
  function jobUidNeedsRange(c, ctx) {
    if (c.QEMU_USER !== 'job-uid' || c.QEMU_UIDS !== '') return undefined;
    return issue(ctx, 'QEMU_UIDS', c.QEMU_UIDS, 'a range START-END of uids no user or group has (e.g. 2145000000-2145009999) when QEMU_USER is job-uid');
  },
  // virtiofs cannot be made safe with libvirt 9 / qemu 7.2's virtiofsd (doc/security.md): libvirt
  // starts it as root in passthrough mode and has no <idmap> for it before 10.0, and that
  // virtiofsd cannot run unprivileged. Root in any guest would act as host root in the directory.
  function virtiofsRefused(c, ctx) {
    if (c.VM_SHARE_TYPE !== 'virtiofs') return undefined;
    return issue(ctx, 'VM_SHARE_TYPE', c.VM_SHARE_TYPE, `nfs: ${VIRTIOFS_REFUSED}; share home, workspace and opt with VM_NFS_HOME/WS/OPT`);
  },
  ...VIRTIOFS_KEYS.map(
    ([key, nfs]): Rule =>
      function virtiofsDirRefused(c, ctx) {
        if (c[key] === '') return undefined;
        return issue(ctx, key, c[key], `"": ${VIRTIOFS_REFUSED}; share it with ${nfs} (VM_SHARE_TYPE: nfs)`);
      },
  ),
  // Root in a user's own image is root in the guest, and guest root speaks for any uid on a
  // sec=sys NFS export that trusts the guests' addresses: every user's home.
  function userImagesWithNfs(c, ctx) {
    if (!c.ALLOW_USER_IMAGES) return undefined;
    const nfs = NFS_KEYS.filter((k) => c[k] !== '');
    if (nfs.length === 0) return undefined;
    return issue(ctx, 'ALLOW_USER_IMAGES', c.ALLOW_USER_IMAGES, `false while ${nfs.join(', ')} export to the guests: root in a user's own image could use any uid on that export (or set ${nfs.join(', ')} to "")`);
  },
];
