/**
 * Contract v1 between the host (root: the engine builds each VM's NoCloud seed) and a guest image
 * that carries vtorque-seed (the tuned reference image; src/image/guest-files.ts is the guest side,
 * src/guest/fast-seed.ts the host side).
 *
 * - The image says it has vtorque-seed with SEED_CAPABILITY in its kernel command line
 *   (`<img>.cmdline` beside `<img>.vmlinuz` in the pool). The engine replaces the token by
 *   `vtorque.seed=on cloud-init=disabled` for a VM vtorque-seed can start, or drops it.
 * - The seed (ISO 9660, volume id `cidata`) then holds, beside cloud-init's user-data, meta-data and
 *   network-config, a FAST_SEED_DIR directory:
 *     seed.conf   key=value lines: version (1), user, uid, gid, group, hostname
 *     files       "<octal mode> <absolute path>" lines; the content is root/<path>
 *     fstab       fstab lines to add and mount (NFS); may be empty
 */
export const SEED_CAPABILITY = 'vtorque.seed=auto';

/** Does this kernel command line say the image has vtorque-seed? */
export function hasSeedCapability(cmdline: string): boolean {
  return cmdline.split(/\s+/).includes(SEED_CAPABILITY);
}
/** The command line of a pool image's direct kernel boot without its own `<img>.cmdline`. */
export const DIRECT_BOOT_CMDLINE = 'root=/dev/vda rw console=ttyS0';
/** What an `<img>.cmdline` may hold: one line of printable ASCII, at most this long. */
export const CMDLINE_MAX = 2048;
export const SEED_ON = ['vtorque.seed=on', 'cloud-init=disabled'] as const;
export const FAST_SEED_DIR = 'vtorque';
export const FAST_SEED_VERSION = 1;
