import { copyFileSync, linkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_BASENAME, type ImageArtifacts } from './inputs.js';

/**
 * Put a built image into a pool directory as `<IMAGE_BASENAME>` with its kernel, initrd and
 * kernel command line beside it (what direct kernel boot reads), by hard link where the pool is
 * on the same file system (the build directory stays the only copy, and a rebuild replaces the
 * build's name, not the pool's inode), else by copy. A name already in the pool is replaced.
 */
export function linkImageIntoPool(image: ImageArtifacts, poolDir: string): string[] {
  const pairs = [[image.qcow2, IMAGE_BASENAME], [image.vmlinuz, `${IMAGE_BASENAME}.vmlinuz`], [image.initrd, `${IMAGE_BASENAME}.initrd`], [image.cmdline, `${IMAGE_BASENAME}.cmdline`]] as const;
  return pairs.map(([from, name]) => {
    const to = join(poolDir, name);
    rmSync(to, { force: true });
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
    }
    return to;
  });
}
