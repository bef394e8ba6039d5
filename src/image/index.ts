/**
 * `vtorque image build [--out DIR]`: the Debian 12 guest image for job VMs.
 *
 * Outputs in outDir: `debian-12-x86_64.qcow2` (ext4 on the whole 2 GiB disk, no partition table),
 * `….qcow2.vmlinuz` and `….qcow2.initrd` (Debian cloud kernel, for direct kernel boot with
 * IMAGE_KERNEL_CMDLINE) and `….qcow2.inputs.sha256` (what the build was made from; a match means
 * cached) and `….qcow2.cmdline` (the kernel command line). Guests read a NoCloud seed: the tuned
 * image with vtorque-seed (guest-files.ts) when the engine says so, else with cloud-init.
 *
 * Treat a built image as immutable while guests use it: overlays name it as their backing file, and
 * a rebuild replaces it. Build into a new directory and switch, or rebuild only when no job runs.
 *
 * Guest facts the domain XML must respect (Debian cloud kernel): disk on virtio (`vda`); no AHCI,
 * so the seed cdrom goes on virtio-scsi (or IDE on machine `pc`); no 9p, use virtiofs.
 */
export { buildImage, isCurrent, type BuildImageOptions, type BuildImageResult } from './build-image.js';
export {
  CUSTOMISATION_VERSION,
  IMAGE_BASENAME,
  IMAGE_BUILDER_VERSION,
  IMAGE_KERNEL_CMDLINE,
  IMAGE_PACKAGES,
  IMAGE_ROOT_DEVICE,
  IMAGE_SIZE,
  PLAIN_IMAGE_PACKAGES,
  TUNED_KERNEL_CMDLINE,
  imageArtifacts,
  imageInputs,
  inputsHash,
  type ImageArtifacts,
  type ImageInputs,
  type ImageProfile,
} from './inputs.js';
export { SEED_CAPABILITY } from './guest-files.js';
export { linkImageIntoPool } from './pool-link.js';
export { MASKED_UNITS } from './customise-rootfs.js';
export { BUILD_TOOLS, requireBuildTools } from './tools.js';
