import type { SiteConfig } from '../../core/config/index.js';
import { UnsafePathError, VtorqueError } from '../../core/errors.js';
import { pathElements } from '../../core/fs/index.js';
import { diskNeedsOwner } from '../../core/request/index.js';
import { openImage } from './image.js';
import type { PersistentDisk, PrepareTools } from './types.js';

const stripSlash = (dir: string): string => (dir.length > 1 ? dir.replace(/\/+$/, '') : dir);

/**
 * Check rank 0's `-vm disk=` before anything is created: an absolute path under one of DISK_DIRS
 * (compared by elements, with no symlink at any element, so the lexical check is the real one), a
 * regular file owned by the job owner, and a standalone image (no backing or external data file).
 * Returns the format the domain must attach it with.
 *
 * The user owns the directories on the way, so they can swap the file after this check; the
 * domain code must not let libvirt probe the format or follow a backing chain (it gets the
 * explicit format here). That is safe only with QEMU_USER owner: qemu opens the file as the owner
 * and libvirt chowns nothing, so a file swapped in afterwards is still one the owner could open.
 * With QEMU_USER libvirt, libvirt (root) would chown whatever the path names: refused. With
 * job-uid, qemu's own uid cannot open the owner's file: refused too.
 */
export async function validatePersistentDisk(path: string, owner: { readonly uid: number }, config: SiteConfig, tools: PrepareTools): Promise<PersistentDisk> {
  if (config.QEMU_USER !== 'owner') throw new VtorqueError('REQUEST_INVALID', `disk ${path}: ${diskNeedsOwner(config.QEMU_USER)}`, { fault: 'job' });
  const els = pathElements(path, 'job');
  const underDiskDir = config.DISK_DIRS.map(stripSlash).some((dir) => {
    const base = pathElements(dir);
    return els.length > base.length && base.every((e, i) => els[i] === e);
  });
  if (!underDiskDir) {
    throw new VtorqueError('REQUEST_INVALID', `disk ${path}: not under DISK_DIRS (${config.DISK_DIRS.join(', ')})`, { fault: 'job' });
  }
  const { file, info } = await openImage(
    path,
    {
      label: 'disk',
      code: 'REQUEST_INVALID',
      trusted: false,
      check: (f) => {
        if (f.stat.uid !== owner.uid) throw new UnsafePathError(path, `is owned by uid ${f.stat.uid}, not by the job owner (uid ${owner.uid})`, { fault: 'job' });
      },
    },
    tools,
  );
  file.close();
  return { path, format: info.format };
}
