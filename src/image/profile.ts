/**
 * `tuned` (default): the reference image, started fast (networkd, small LZ4 initramfs,
 * vtorque-seed before sshd, a quiet kernel). `plain`: the image as it was before issue 12
 * (ifupdown, dhclient, cloud-init on the SSH path), kept only so the boot bench can measure both
 * in one run.
 */
export type ImageProfile = 'tuned' | 'plain';
