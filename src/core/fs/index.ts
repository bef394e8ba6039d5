export {
  lstatNoFollow,
  mkdirPrivate,
  openNoFollow,
  privateDirProblem,
  readFileNoFollow,
  replaceFileAtomic,
  seizeDir,
  ROOT_OWNER,
  setOwnerMode,
  unlinkNoFollow,
  writeFileExclusive,
  type OpenedFile,
  type Owner,
} from './safe-path.js';
export { removeTree, type RemoveTreeOptions } from './remove-tree.js';
export { mountPointsUnder, mountsAt, parseMountInfo, readMounts, type MountEntry } from './mounts.js';
export { isTrustedDir, pathElements } from './walk.js';
export { readFdFully } from './read-fd.js';
