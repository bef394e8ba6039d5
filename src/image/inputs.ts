import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** Bump when buildImage's own steps change in a way that changes the image. */
export const IMAGE_BUILDER_VERSION = '1';
/** Bump when the rootfs customisation (customise-rootfs.ts) changes. */
export const CUSTOMISATION_VERSION = 'vtq-custom-2026-11-21.1';

export const IMAGE_BASENAME = 'debian-12-x86_64.qcow2';
/** Kernel command line for direct kernel boot of the image: the filesystem fills the whole disk. */
export const IMAGE_KERNEL_CMDLINE = 'root=/dev/vda rw console=ttyS0';
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
  'ifupdown',
  'iproute2',
  'isc-dhcp-client',
  'kmod',
  'less',
  'linux-image-cloud-amd64',
  'netbase',
  'nfs-common',
  'openssh-server',
  'procps',
  'python3-cffi-backend',
  'qemu-guest-agent',
  'systemd-sysv',
  'udev',
];

export interface ImageInputs {
  readonly builderVersion: string;
  readonly customisationVersion: string;
  readonly suite: string;
  readonly mirror: string;
  readonly variant: string;
  readonly packages: readonly string[];
  readonly size: string;
  readonly fsLabel: string;
}

export function imageInputs(): ImageInputs {
  return {
    builderVersion: IMAGE_BUILDER_VERSION,
    customisationVersion: CUSTOMISATION_VERSION,
    suite: IMAGE_SUITE,
    mirror: IMAGE_MIRROR,
    variant: IMAGE_VARIANT,
    packages: [...IMAGE_PACKAGES].sort(),
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
  readonly inputsSha256: string;
}

export function imageArtifacts(outDir: string, base: string = IMAGE_BASENAME): ImageArtifacts {
  const file = join(outDir, base);
  return { qcow2: file, vmlinuz: `${file}.vmlinuz`, initrd: `${file}.initrd`, inputsSha256: `${file}.inputs.sha256` };
}
