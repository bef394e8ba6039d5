import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { DIRECT_BOOT_CMDLINE } from '../core/contract/guest-seed.v1.js';
import { bootFilePaths } from '../core/pool/images.js';
import { customisationDigest } from './customise-rootfs.js';
import { SEED_CAPABILITY } from './guest-files.js';
import type { ImageProfile } from './profile.js';

/** Bump when buildImage's own steps change in a way that changes the image. */
export const IMAGE_BUILDER_VERSION = '2';
/** Bump when the rootfs customisation (customise-rootfs.ts, guest-files.ts) changes. */
export const CUSTOMISATION_VERSION = 'vtq-custom-2026-12-02.1';

export type { ImageProfile };

export const IMAGE_BASENAME = 'debian-12-x86_64.qcow2';
/**
 * Kernel command line for direct kernel boot of the plain image (the filesystem fills the whole
 * disk); also the default for a pool image without its own `<img>.cmdline`.
 */
export const IMAGE_KERNEL_CMDLINE = DIRECT_BOOT_CMDLINE;
/**
 * The tuned image's (written as `<img>.cmdline`): quiet boot, one UART, no i8042 probing
 * (Firecracker's boot arguments), and SEED_CAPABILITY: the engine turns it into
 * `vtorque.seed=on cloud-init=disabled` for a job vtorque-seed can start, or drops it.
 */
export const TUNED_KERNEL_CMDLINE = `${IMAGE_KERNEL_CMDLINE} quiet loglevel=3 systemd.show_status=0 8250.nr_uarts=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd ${SEED_CAPABILITY}`;
/** The image's disk bus/target the cmdline relies on: `<target dev='vda' bus='virtio'/>`. */
export const IMAGE_ROOT_DEVICE = 'vda';

export const IMAGE_SUITE = 'bookworm';
export const IMAGE_MIRROR = 'http://deb.debian.org/debian';
export const IMAGE_VARIANT = 'minbase';
export const IMAGE_SIZE = '2G';
export const IMAGE_FS_LABEL = 'rootfs';

/**
 * Packages added to debootstrap's minbase. debootstrap does not resolve virtual packages, so
 * python3-cffi-backend (which provides python3-cffi-backend-api-*) must be named or cloud-init ends
 * up unconfigured. No sudo: job users must not get root in the guest.
 */
export const IMAGE_PACKAGES: readonly string[] = [
  'ca-certificates',
  'cloud-init',
  'dbus',
  'iproute2',
  'kmod',
  'less',
  'linux-image-cloud-amd64',
  // initramfs-tools' COMPRESS=lz4
  'lz4',
  'netbase',
  'nfs-common',
  'openssh-server',
  'procps',
  'python3-cffi-backend',
  'systemd-sysv',
  'udev',
];

/** The plain profile's packages (ifupdown and dhclient as cloud-init's ENI renderer wants them). */
export const PLAIN_IMAGE_PACKAGES: readonly string[] = [
  'ca-certificates', 'cloud-init', 'dbus', 'ifupdown', 'iproute2', 'isc-dhcp-client', 'kmod', 'less', 'linux-image-cloud-amd64',
  'netbase', 'nfs-common', 'openssh-server', 'procps', 'python3-cffi-backend', 'qemu-guest-agent', 'systemd-sysv', 'udev',
];
/** The plain profile's customisation version (the one it was built with before issue 12). */
const PLAIN_CUSTOMISATION_VERSION = 'vtq-custom-2026-11-21.1';

export interface ImageInputs {
  readonly profile: ImageProfile;
  readonly builderVersion: string;
  readonly customisationVersion: string;
  readonly suite: string;
  readonly mirror: string;
  readonly variant: string;
  readonly packages: readonly string[];
  readonly size: string;
  readonly fsLabel: string;
}

export function imageInputs(profile: ImageProfile = 'tuned'): ImageInputs {
  return {
    profile,
    builderVersion: IMAGE_BUILDER_VERSION,
    customisationVersion: `${profile === 'tuned' ? CUSTOMISATION_VERSION : PLAIN_CUSTOMISATION_VERSION}+${customisationDigest(profile)}`,
    suite: IMAGE_SUITE,
    mirror: IMAGE_MIRROR,
    variant: IMAGE_VARIANT,
    packages: [...(profile === 'tuned' ? IMAGE_PACKAGES : PLAIN_IMAGE_PACKAGES)].sort(),
    size: IMAGE_SIZE,
    fsLabel: IMAGE_FS_LABEL,
  };
}

/** sha256 (hex) of the inputs in a fixed key order: equal inputs, equal hash. */
export function inputsHash(inputs: ImageInputs): string {
  const canonical = JSON.stringify(inputs, Object.keys(inputs).sort());
  return createHash('sha256').update(canonical).digest('hex');
}

export interface ImageArtifacts {
  readonly qcow2: string;
  readonly vmlinuz: string;
  readonly initrd: string;
  /** The kernel command line for direct kernel boot (`<img>.cmdline`, one line). */
  readonly cmdline: string;
  readonly inputsSha256: string;
}

export function imageArtifacts(outDir: string, base: string = IMAGE_BASENAME): ImageArtifacts {
  const file = join(outDir, base);
  const boot = bootFilePaths(file);
  return { qcow2: file, vmlinuz: boot.kernel, initrd: boot.initrd, cmdline: boot.cmdline, inputsSha256: `${file}.inputs.sha256` };
}
