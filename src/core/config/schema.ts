import type * as v from 'valibot';
import { absPath, argv, argvTemplate, bool, int, list, mib, oneOf, regex, str, uidRange, type Field } from './fields.js';

export const DISTROS = ['debian', 'ubuntu', 'redhat', 'centos', 'osv'] as const;
export type Distro = (typeof DISTROS)[number];
export const ARCHES = ['x86_64'] as const;
export const FS_TYPES = ['sharedfs', 'ramdisk'] as const;
export type FsType = (typeof FS_TYPES)[number];

/**
 * Cloud-config keys a site may let users pass through `-vm metadata=FILE`. Only keys that run
 * nothing as guest root and add no accounts, keys or mounts are eligible at all.
 */
export const METADATA_ELIGIBLE_KEYS = ['packages', 'package_update', 'package_upgrade', 'timezone', 'locale'] as const;

const PACKAGE = /^[a-z0-9][a-z0-9+.:=~-]*$/;
const HOST = /^[A-Za-z0-9.:_-]*$/;
const NFS_EXPORT = /^(|[A-Za-z0-9.:_\[\]-]+:\/[^\0\r\n,\s]*)$/;

/**
 * Every site configuration key, with the original vTorque's UPPER_SNAKE name and default, except
 * where the original default was a bug (each such case says why in `doc`; see doc/admin.md).
 */
export const CONFIG_FIELDS = {
  // --- cluster
  DISABLED_HOSTS_LIST: regex('', 'regex of hosts where vsub refuses VM jobs'),
  REGEX_FE: regex('', 'regex of front-end hosts (they use PBS_QSUB_ON_FE); the original "*" was matched literally and never matched, "" keeps that behaviour'),
  TORQUE_HOME: absPath('/var/spool/torque', 'Torque home (mom_priv, aux)'),
  PBS_QSUB_ON_FE: absPath('/usr/bin/qsub', 'real qsub on front-ends'),
  PBS_QSUB_ON_NODES: absPath('/usr/bin/qsub', 'real qsub on compute nodes'),
  SLURM_SBATCH: absPath('/usr/bin/sbatch', 'real sbatch (vsbatch runs it)'),
  SLURM_SCONTROL: absPath('/usr/bin/scontrol', "real scontrol: the Slurm Prolog reads the controller's copy of a VM job's script, its allocation and state with it, and requeues a job after a node fault"),
  SLURM_CONF: absPath('', 'slurm.conf the Slurm hooks and `vtorque doctor` pass to scontrol ("" = what slurmd gives the hooks in SLURM_CONF, else Slurm\'s default)', true),
  VM_IMG_DIR: absPath('/opt/vm-images', 'root-owned pool of authorized images'),
  WS_DIR: absPath('/workspace/.vtorque', 'shared fast workspace'),
  RAMDISK_DIR: absPath('/ramdisk', 'parent of per-job tmpfs mounts (fs_type=ramdisk)'),
  VM_NFS_HOME: str('', 'NFS export mounted at the guest /home ("" = none; the original placeholder host was not a usable default)', NFS_EXPORT, 'an NFS export host:/path or ""'),
  VM_NFS_WS: str('', 'NFS export mounted at the guest /workspace ("" = none)', NFS_EXPORT, 'an NFS export host:/path or ""'),
  VM_NFS_OPT: str('', 'NFS export mounted at the guest /opt-hpc ("" = none)', NFS_EXPORT, 'an NFS export host:/path or ""'),
  VM_SHARE_TYPE: oneOf('nfs', ['nfs', 'virtiofs'] as const, 'how home/workspace/opt reach the guest: nfs (guest-side NFS mounts of VM_NFS_HOME/WS/OPT) is the only accepted value; virtiofs is refused: libvirt 9 runs virtiofsd as root in passthrough mode, with no id mapping, so root in any guest would get root\'s access to the shared directory (doc/security.md)'),
  VM_VIRTIOFS_HOME: absPath('', 'refused unless "": a host directory shared as the guest /home with virtiofs would be served by a root virtiofsd in passthrough mode (guest root = host root there, e.g. every user\'s home); use VM_NFS_HOME', true),
  VM_VIRTIOFS_WS: absPath('', 'refused unless "" (as VM_VIRTIOFS_HOME); use VM_NFS_WS', true),
  VM_VIRTIOFS_OPT: absPath('', 'refused unless "" (as VM_VIRTIOFS_HOME); use VM_NFS_OPT', true),
  MAC_PREFIX: str('52:54:00', 'first three bytes of every VM MAC', /^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){2}$/, 'three unicast hex bytes like 52:54:00'),
  HOST_OS_CORE_COUNT: int(1, 0, 4096, 'cores kept for the host OS'),
  HOST_OS_RAM_MB: int(2048, 0, 1 << 24, 'MiB of RAM kept for the host OS'),
  PBS_EXCLUSIVE_NODE_ALLOC: bool(true, 'submit VM jobs node-exclusive (qsub -n)'),
  KILL_USER_PROCESSES_AFTER_JOB: bool(true, 'kill the owner\'s leftover processes after a VM job, only on nodes the job had exclusively'),
  MEASURE_TIME: bool(false, 'record and print phase timings'),
  MAX_VMS_PER_NODE: int(4, 1, 256, 'most VMs one job may start on one node'),
  SPOOL_DIR: absPath('/var/spool/vtorque', 'root-owned per-job state and VM files'),

  // --- timeouts (seconds)
  SSH_TIMEOUT: int(5, 1, 600, 'bound on one SSH attempt (connect, key exchange, login); at least 4 lets an address that nothing holds answer "host unreachable", after which it is resolved again'),
  TIMEOUT: int(120, 1, 3600, 'per-step timeout of the node lock, libvirt steps, the VM node file and graceful shutdown; for the IP and SSH waits it is the quiet limit (no sign of life) only until this node has measured a start of the image'),
  BOOT_HEADROOM: int(3, 1, 100, 'the IP and SSH waits give a VM up when it shows no sign of life (console output growing, a lease or neighbour entry of this boot, SSH getting further) for max(BOOT_MIN_WAIT, BOOT_HEADROOM x pace x the phase\'s measured time): the median of the last 10 successful starts of the same image on this node (SPOOL_DIR/boot-times.json), pace = how much slower this boot got its address than measured (SSH phase, at least 1); never past PROLOGUE_TIMEOUT'),
  BOOT_MIN_WAIT: int(20, 1, 3600, 'the least quiet limit of the IP and SSH waits in seconds (see BOOT_HEADROOM), so a fast measured boot is not given up on a hiccup'),
  PROLOGUE_TIMEOUT: int(280, 10, 86400, 'overall prologue deadline, the hard bound of every wait (a VM still showing signs of life is waited for up to it, see BOOT_HEADROOM); must be below the mom $prologalarm - 10 (the original 600 broke that rule against the default 300)'),
  TEARDOWN_TIMEOUT: int(60, 5, 3600, 'overall teardown deadline in the epilogue'),

  // --- VM networking
  CUSTOM_IP_MAPPING: bool(false, 'ask IP_TO_MAC_SCRIPT for each VM MAC instead of deriving it'),
  IP_TO_MAC_SCRIPT: absPath('', 'admin program: args node, vms-per-node, vm number; prints a MAC', true),
  NAME_SERVER: str('', 'guest name server ("" = from DHCP)', HOST, 'a host name or IP'),
  DOMAIN: str('', 'guest DNS domain ("" = from DHCP)', HOST, 'a domain name'),
  SEARCH_DOMAIN: str('', 'guest DNS search domain', HOST, 'a domain name'),
  NTP_SERVER_1: str('', 'first guest NTP server ("" = none)', HOST, 'a host name or IP'),
  NTP_SERVER_2: str('', 'second guest NTP server ("" = none)', HOST, 'a host name or IP'),
  VM_NETWORK: str('', 'libvirt network the VMs join (takes precedence over VM_BRIDGE)', /^[A-Za-z0-9_.-]*$/, 'a libvirt network name or ""'),
  VM_BRIDGE: str('br0', 'host bridge the VMs join when VM_NETWORK is ""', /^[A-Za-z0-9_.-]{1,15}$/, 'a Linux interface name'),

  // --- default guest packages (installed by cloud-init at boot; needs a mirror reachable from guests)
  SW_PACKAGES_DEBIAN: list([], 'packages for Debian-family guests (the original list named packages bookworm lacks and needed network at every boot)', PACKAGE, 'Debian package names'),
  SW_PACKAGES_REDHAT: list([], 'packages for RedHat-family guests', PACKAGE, 'package names'),

  // --- VM defaults for submission
  FILESYSTEM_TYPE_DEFAULT: oneOf('sharedfs', ['sharedfs', 'ramdisk'] as const, 'default fs_type'),
  IMG_DEFAULT: str('debian-12-x86_64.qcow2', 'default image in VM_IMG_DIR (the original ubuntu.x86_64.img is not shipped; this is what `vtorque image build --register` adds)', /^[A-Za-z0-9._+-]+\.(img|qcow2|raw)$/, 'an image file name ending .img, .qcow2 or .raw'),
  DISTRO_DEFAULT: oneOf('debian', DISTROS, 'distro of IMG_DEFAULT'),
  ARCH_DEFAULT: oneOf('x86_64', ARCHES, 'default guest architecture'),
  VCPUS_DEFAULT: int(7, 1, 1024, 'vCPUs per VM'),
  VCPU_PINNING_DEFAULT: bool(true, 'pin vCPUs to host cores'),
  RAM_DEFAULT: mib(24576, 64, 1 << 30, 'RAM per VM'),
  VMS_PER_NODE_DEFAULT: int(1, 1, 256, 'VMs per node'),
  DISK_DEFAULT: absPath('', 'persistent disk attached to rank 0 ("" = none)', true),
  VRDMA_ENABLED_DEFAULT: bool(false, 'vrdma when the user does not say'),
  UNCLOT_ENABLED_DEFAULT: bool(false, 'unclot when the user does not say'),
  UNCLOT_SHMEM_DEFAULT: mib(1024, 1, 1 << 20, 'UNCLOT shared memory'),
  IOCM_ENABLED_DEFAULT: bool(false, 'iocm when the user does not say'),
  IOCM_MIN_CORES_DEFAULT: int(1, 0, 4096, 'IOcm minimum cores'),
  IOCM_MAX_CORES_DEFAULT: int(4, 0, 4096, 'IOcm maximum cores'),

  // --- debugging
  PARALLEL: bool(true, 'prepare, boot and tear down VMs concurrently'),
  ALLOW_USER_IMAGES: bool(false, 'allow img=/absolute/path outside VM_IMG_DIR: a regular file the job owner owns (no symlink on the way), at most USER_IMAGE_MAX_MB on disk, copied by root from the checked file into the job\'s root-owned directory and used only as that copy; it boots from its own disk (a .vmlinuz/.initrd beside it is never looked at). Gives users root in their guests, so it is refused together with VM_NFS_HOME/WS/OPT (guest root could use any uid on a sec=sys export)'),
  USER_IMAGE_MAX_MB: mib(32768, 64, 1 << 24, 'largest user image (ALLOW_USER_IMAGES) by the space it takes on disk: root copies it into the job\'s directory under SPOOL_DIR (or its tmpfs) before any program reads it'),
  DEBUG_DEFAULT: bool(false, 'debug logging when the user does not say'),
  TRACE_DEFAULT: bool(false, 'trace logging when the user does not say'),

  // --- logging
  LOG_DIR: absPath('/var/log/vtorque', 'root-side JSON logs (never the user\'s home)'),
  LOG_LEVEL: oneOf('info', ['error', 'warn', 'info', 'debug', 'trace'] as const, 'root-side log level'),
  PRINT_TO_STDOUT: bool(false, 'also print log lines to the job output'),
  METRICS_FILE: absPath('', 'Prometheus text file (node_exporter\'s textfile collector format) that the root hooks keep up to date after every VM start, stop and gc on this node: VM jobs started and failed, VM boot phase times, VMs running, what gc reaped. Put it in the directory node_exporter reads with --collector.textfile.directory, named *.prom (e.g. /var/lib/prometheus/node-exporter/vtorque.prom); every directory on its path must be root\'s and writable by root only, else it is not written (a warning in LOG_DIR, never a failed job). The counts are kept in SPOOL_DIR/metrics.json ("" = off; doc/admin.md, Metrics)', true),

  // --- node components (the original IOcm / vRDMA / Snap slots, as admin commands)
  IOCM_ENABLED: bool(false, 'global IOcm switch'),
  IOCM_MIN_CORES: int(1, 0, 4096, 'least IOcm cores a job may ask'),
  IOCM_MAX_CORES: int(12, 0, 4096, 'most IOcm cores a job may ask'),
  IOCM_NODES: regex('.*', 'regex of hosts with IOcm (the original "*" matched no host)'),
  IOCM_START_CMD: argv('IOcm start command'),
  IOCM_STOP_CMD: argv('IOcm stop command'),
  VRDMA_ENABLED: bool(false, 'global vRDMA switch'),
  VRDMA_NODES: regex('.*', 'regex of hosts with vRDMA (the original "*" matched no host)'),
  VRDMA_START_CMD: argv('vRDMA start command'),
  VRDMA_STOP_CMD: argv('vRDMA stop command'),
  UNCLOT_ENABLED: bool(false, 'global UNCLOT switch'),
  SNAP_MONITORING_ENABLED: bool(false, 'global Snap switch'),
  SNAP_BIN_DIR: absPath('/usr/local/bin/', 'Snap binaries'),
  SNAP_TAG_FORMAT: str('snapTask-[username]-[jobid]', 'Snap task tag; [username] and [jobid] are replaced'),
  SNAP_NODES: regex('.*', 'regex of hosts with Snap'),
  SNAP_START_CMD: argv('Snap start command'),
  SNAP_STOP_CMD: argv('Snap stop command'),
  COMPONENT_TIMEOUT: int(30, 1, 3600, 'timeout of each component command'),

  // --- new in this design
  HYPERVISOR: oneOf('auto', ['auto', 'kvm', 'qemu'] as const, 'domain type: kvm, qemu (TCG) or auto (kvm when it really works)'),
  QEMU_USER: oneOf('job-uid', ['job-uid', 'libvirt', 'owner'] as const, 'who each job\'s qemu runs as (default job-uid). libvirt: qemu.conf\'s user for every job, libvirt relabels (chowns) the images while they run; -vm disk= is then refused. owner: the job owner (a static DAC label with relabel=no; overlay and seed chowned to the owner, libvirt chowns nothing), so a qemu escape gets that user\'s rights only and -vm disk= is safe; but the owner can then rewrite his VMs\' disks and read their seeds, i.e. become root in his own guests: choose it only where guest root is not trusted by anything (no sec=sys NFS exports to the guests), keep site secrets out of templates-vm user-data, and for kvm guests make /dev/kvm usable by job owners (vtorque doctor checks). job-uid: a dedicated unprivileged uid per job from QEMU_UIDS that belongs to nobody (static DAC label, relabel=no; overlay and seed chowned to that uid, libvirt chowns nothing), so jobs are isolated from each other, a qemu escape gets no user\'s rights, and the owner cannot touch his VMs\' disks or seeds; -vm disk= is refused (that uid cannot open the owner\'s files); needs QEMU_UIDS, pool images readable and the directories on the way to SPOOL_DIR, RAMDISK_DIR and VM_IMG_DIR traversable by others, and for kvm guests /dev/kvm group-rw for group kvm or world-rw (vtorque doctor checks)'),
  QEMU_UIDS: uidRange('2145000000-2145009999', 'uids reserved for QEMU_USER job-uid, as START-END inclusive (default 2145000000-2145009999, above the ranges systemd and nspawn use; "" = none): each job\'s qemu gets the lowest one that no domain defined on the node holds. The range must not overlap any real user\'s uid or any group\'s gid (vtorque doctor lists overlaps; a job refuses to start on a uid that getent passwd knows). qemu\'s gid is the kvm group\'s when that group exists (so /dev/kvm 0660 root:kvm works), else the same number as the uid'),
  LIBVIRT_URI: str('qemu:///system', 'libvirt URI of the local node', /^[a-z+]+:\/\/[^\s]*$/, 'a libvirt URI'),
  NODE_AGENT_COMMAND: argvTemplate(
    ['/usr/bin/ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-T', 'root@{node}', '{node_binary}', '{vtorque}', 'node-agent', '--name', '{node}'],
    'how the head of a multi-node job starts the node agent on another node of the job, as root: {node} is the node\'s name from the scheduler (letters, digits, . _ - only), {node_binary} this node\'s node binary, {vtorque} this install\'s dist/vtorque.mjs (every node must have the same install at the same path). The default needs root\'s ssh key accepted by every node (vtorque doctor --nodes n2,n3 checks)',
    ['node', 'node_binary', 'vtorque'],
  ),
  MACHINE_TYPE: str('q35', 'libvirt machine type', /^[A-Za-z0-9._-]+$/, 'a machine type like q35 or pc'),
  TCG_TB_CACHE_MB: int(256, 0, 4096, 'TCG translation cache per VM in MiB when the domain type is qemu (0 = QEMU default, about 1 GiB)'),
  METADATA_ALLOWED_KEYS: list([], 'cloud-config keys users may add with -vm metadata=FILE', /^(packages|package_update|package_upgrade|timezone|locale)$/, 'keys among packages, package_update, package_upgrade, timezone, locale'),
  DISK_DIRS: list([], 'directories under which a user\'s persistent disk (-vm disk=) may live; [] disables the option. Users own the directories on the way, so a path can be swapped after the check: accepted only with QEMU_USER owner (qemu opens the disk as the owner and libvirt chowns nothing, so a swapped-in file can only be one the owner could open anyway); with QEMU_USER libvirt (the default) or job-uid a request with disk= is refused (doc/security.md)', /^\/[^\0\r\n]*$/, 'absolute directories'),
  VM_SCRIPT_MAX_KB: int(256, 1, 65536, 'largest vm_prologue/vm_epilogue/metadata/pinning file vsub embeds'),
} as const satisfies Record<string, Field<unknown>>;

export type ConfigKey = keyof typeof CONFIG_FIELDS;
type OutputOf<F> = F extends Field<infer T> ? T : never;
export type SiteConfig = { readonly [K in ConfigKey]: OutputOf<(typeof CONFIG_FIELDS)[K]> };

/** Keys of the original that this design no longer needs: accepted with a warning, then ignored. */
export const OBSOLETE_KEYS: Readonly<Record<string, string>> = {
  ARP_BIN: 'VM IPs are read from /proc/net/arp by root; no arp binary is run',
  LIBVIRT_URI_TEMPLATE: 'the head of a multi-node job reaches the other nodes through their node agents (NODE_AGENT_COMMAND), not through remote libvirt URIs',
  SUSPENDED_IMAGE_DIR: 'suspend/resume does not exist',
  NFS_TIMEOUT: 'the hooks read Torque\'s own job script, not NFS state',
  ENABLE_DEV_MODE: 'root never sources user files',
  SHOW_LOG_DEFAULT: 'see `vtorque status JOB`',
  ABORT_ON_ERROR: 'errors always abort',
  LOG_ROTATE: 'use logrotate on LOG_DIR',
  LOG_FILE: 'logs go to LOG_DIR, never to the user\'s home',
  MAX_LOG_SIZE: 'use logrotate on LOG_DIR',
};

/** Keys users may see with `vmgr show config` (the original's non-root filter, plus VM-visible settings). */
export const PUBLIC_KEY_PATTERN = /ENABLED|DEFAULT|NODES|HOST_OS_CORE_COUNT|HOST_OS_RAM_MB|PBS_EXCLUSIVE_NODE_ALLOC|SW_PACKAGES|DISABLED_HOSTS_LIST|PARALLEL|ALLOW_USER_IMAGES|USER_IMAGE_MAX_MB|IOCM_MIN_CORES|IOCM_MAX_CORES|MAX_VMS_PER_NODE|METADATA_ALLOWED_KEYS|DISK_DIRS|VM_IMG_DIR/;

export type ConfigSchemaEntries = { [K in ConfigKey]: v.GenericSchema<unknown, OutputOf<(typeof CONFIG_FIELDS)[K]>> };
