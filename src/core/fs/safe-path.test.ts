import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mountPointsUnder, parseMountInfo, readMounts } from './mounts.js';
import { removeTree } from './remove-tree.js';
import { lstatNoFollow, mkdirPrivate, openNoFollow, privateDirProblem, readFileNoFollow, setOwnerMode, unlinkNoFollow, writeFileExclusive } from './safe-path.js';

const top = mkdtempSync(join(tmpdir(), 'vtq-fs-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));
let root: string;
let outside: string;
let n = 0;
beforeEach(() => {
  root = join(top, `t${++n}`);
  outside = join(top, `o${n}`);
  mkdirSync(root, { mode: 0o755 });
  mkdirSync(outside, { mode: 0o755 });
  writeFileSync(join(outside, 'precious'), 'keep me');
});
const mode = (p: string) => lstatSync(p).mode & 0o7777;
const unsafe = expect.objectContaining({ code: 'UNSAFE_PATH' });

describe('mkdirPrivate', () => {
  it('creates every missing element, root-owned, with the asked mode and owner on the last', () => {
    const target = join(root, 'a', 'b', 'c');
    mkdirPrivate(target, 0o711, { uid: 1000, gid: 1000 });
    expect(mode(join(root, 'a'))).toBe(0o755);
    expect(statSync(join(root, 'a', 'b')).uid).toBe(0);
    expect(mode(target)).toBe(0o711);
    expect([statSync(target).uid, statSync(target).gid]).toEqual([1000, 1000]);
    mkdirPrivate(target, 0o700, { uid: 1000, gid: 1000 }); // existing, same owner: mode re-applied
    expect(mode(target)).toBe(0o700);
  });

  it('refuses a symlink planted at a path element and creates nothing behind it', () => {
    symlinkSync(outside, join(root, 'a'));
    expect(() => mkdirPrivate(join(root, 'a', 'b'), 0o711)).toThrow(unsafe);
    expect(() => mkdirPrivate(join(root, 'a'), 0o711)).toThrow(/symbolic link/);
    expect(existsSync(join(outside, 'b'))).toBe(false);
    expect(mode(outside)).toBe(0o755);
  });

  it('refuses a non-directory, a last element owned by someone else and an untrusted parent', () => {
    writeFileSync(join(root, 'file'), '');
    expect(() => mkdirPrivate(join(root, 'file', 'x'), 0o711)).toThrow(/not a directory/);
    mkdirSync(join(root, 'theirs'));
    execFileSync('chown', ['1000:1000', join(root, 'theirs')]);
    expect(() => mkdirPrivate(join(root, 'theirs'), 0o711)).toThrow(/owned by uid 1000/);
    expect(() => mkdirPrivate(join(root, 'theirs', 'x'), 0o711)).toThrow(/owned by uid 1000, not root/);
    mkdirSync(join(root, 'gw'));
    chmodSync(join(root, 'gw'), 0o775);
    expect(() => mkdirPrivate(join(root, 'gw', 'x'), 0o711)).toThrow(/writable by group or others/);
    chmodSync(join(root, 'gw'), 0o1777); // sticky, like /tmp: others cannot rename our entries
    mkdirPrivate(join(root, 'gw', 'x'), 0o711);
    expect(mode(join(root, 'gw', 'x'))).toBe(0o711);
  });

  it('refuses relative paths and . or .. elements', () => {
    expect(() => mkdirPrivate('rel/dir', 0o700)).toThrow(unsafe);
    expect(() => mkdirPrivate(`${root}/../x`, 0o700)).toThrow(unsafe);
    expect(() => mkdirPrivate(`${root}//x`, 0o700)).toThrow(unsafe);
  });
});

describe('writeFileExclusive and friends', () => {
  it('creates the file with owner then mode and refuses an existing one', () => {
    const file = join(root, 'key');
    writeFileExclusive(file, 'secret\n', 0o640, { uid: 1000, gid: 1001 });
    expect(readFileSync(file, 'utf8')).toBe('secret\n');
    expect([mode(file), statSync(file).uid, statSync(file).gid]).toEqual([0o640, 1000, 1001]);
    expect(() => writeFileExclusive(file, 'x', 0o600)).toThrow(/already exists/);
  });

  it('never writes through a symlink at the file or at a parent element', () => {
    symlinkSync(join(outside, 'precious'), join(root, 'link'));
    symlinkSync(join(outside, 'new'), join(root, 'dangling'));
    symlinkSync(outside, join(root, 'dir'));
    expect(() => writeFileExclusive(join(root, 'link'), 'x', 0o600)).toThrow(unsafe);
    expect(() => writeFileExclusive(join(root, 'dangling'), 'x', 0o600)).toThrow(unsafe);
    expect(() => writeFileExclusive(join(root, 'dir', 'f'), 'x', 0o600)).toThrow(/symbolic link/);
    expect(() => setOwnerMode(join(root, 'link'), { uid: 1000, gid: 1000 }, 0o666)).toThrow(/symbolic link/);
    expect(() => readFileNoFollow(join(root, 'link'))).toThrow(/symbolic link/);
    expect(() => openNoFollow(join(root, 'dir', 'precious'), { trusted: false })).toThrow(/symbolic link/);
    expect(unlinkNoFollow(join(root, 'link'))).toBe(true);
    expect(unlinkNoFollow(join(root, 'link'))).toBe(false);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep me');
    expect([mode(join(outside, 'precious')), statSync(join(outside, 'precious')).uid]).toEqual([0o644, 0]);
    expect(existsSync(join(outside, 'new')) || existsSync(join(outside, 'f'))).toBe(false);
  });

  it('opens a file for children through /proc/<pid>/fd and lstats without following', () => {
    writeFileSync(join(root, 'data'), 'hello');
    const f = openNoFollow(join(root, 'data'), { trusted: true });
    try {
      expect(execFileSync('cat', [f.procPath], { encoding: 'utf8' })).toBe('hello');
    } finally {
      f.close();
    }
    symlinkSync(outside, join(root, 'l'));
    expect(lstatNoFollow(join(root, 'l'), { trusted: true })?.isSymbolicLink()).toBe(true);
    expect(lstatNoFollow(join(root, 'missing', 'x'), { trusted: true })).toBeNull();
    expect(() => lstatNoFollow(join(root, 'l', 'precious'), { trusted: true })).toThrow(/symbolic link/);
  });

  it('names the fix for a spool directory others can write', () => {
    chmodSync(root, 0o775);
    expect(privateDirProblem(root, lstatSync(root))).toBe(`is writable by group or others (mode 0775); fix with: chmod go-w ${root}`);
    chmodSync(root, 0o755);
    expect(privateDirProblem(root, lstatSync(root))).toBeNull();
  });
});

describe('removeTree', () => {
  function tree(): string {
    const t = join(root, 'job');
    mkdirSync(join(t, 'vms', 'a'), { recursive: true });
    writeFileSync(join(t, 'vms', 'a', 'console.log'), 'log');
    writeFileSync(join(t, 'vms', 'a', 'disk.qcow2'), 'disk');
    mkdirSync(join(t, 'ssh'));
    writeFileSync(join(t, 'ssh', 'id'), 'k');
    return t;
  }

  it('unlinks a symlink to a file outside; the file survives', () => {
    const t = tree();
    symlinkSync(join(outside, 'precious'), join(t, 'vms', 'a', 'evil'));
    const removed = removeTree(t);
    expect(removed).toContain(join(t, 'vms', 'a', 'evil'));
    expect(removed[removed.length - 1]).toBe(t);
    expect(existsSync(t)).toBe(false);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep me');
    expect(removeTree(t)).toEqual([]);
  });

  it('unlinks a directory that was swapped for a symlink, before or during the walk', () => {
    const t = tree();
    rmSync(join(t, 'ssh'), { recursive: true });
    symlinkSync(outside, join(t, 'ssh'));
    mkdirSync(join(t, 'x'));
    mkdirSync(join(t, 'y'));
    writeFileSync(join(t, 'x', 'f'), '');
    writeFileSync(join(t, 'y', 'f'), '');
    const seen: string[] = [];
    let swapped = false;
    removeTree(t, {
      keep: (rel) => {
        seen.push(rel);
        if (!swapped) {
          // The first leaf: swap whichever of x/y has not been entered yet for a symlink to `outside`.
          const other = ['x', 'y'].find((d) => !seen.some((s) => s.startsWith(`${d}/`)));
          if (other) {
            renameSync(join(t, other), join(root, `${other}.moved`));
            symlinkSync(outside, join(t, other));
          }
          swapped = true;
        }
        return false;
      },
    });
    expect(existsSync(t)).toBe(false);
    expect(['x', 'y'].filter((d) => existsSync(join(root, `${d}.moved`, 'f')))).toHaveLength(1);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep me');
  });

  it('removes only the link when the tree itself is a symlink', () => {
    symlinkSync(outside, join(root, 'job'));
    expect(removeTree(join(root, 'job'))).toEqual([join(root, 'job')]);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep me');
  });

  it('keeps what `keep` selects and the directories holding it', () => {
    const t = tree();
    removeTree(t, { keep: (rel, st) => st.isFile() && /^vms\/[^/]+\/console\.log$/.test(rel) });
    expect(readFileSync(join(t, 'vms', 'a', 'console.log'), 'utf8')).toBe('log');
    expect(existsSync(join(t, 'vms', 'a', 'disk.qcow2'))).toBe(false);
    expect(existsSync(join(t, 'ssh'))).toBe(false);
  });

  it('refuses to cross a mount point unless told, removing nothing', () => {
    const t = tree();
    const mnt = join(t, 'vms', 'a', 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    try {
      expect(mountPointsUnder(t)).toEqual([mnt]);
      expect(() => removeTree(t)).toThrow(/mount point/);
      expect(existsSync(join(t, 'ssh', 'id'))).toBe(true);
      // An injected mount table without the entry: the device check during the walk still refuses.
      expect(() => removeTree(join(t, 'vms'), { mounts: [] })).toThrow(/is a mount point/);
    } finally {
      execFileSync('umount', [mnt]);
    }
    expect(readMounts().some((m) => m.mountPoint === mnt)).toBe(false);
    removeTree(t);
    expect(existsSync(t)).toBe(false);
  });

  it('refuses an untrusted parent', () => {
    const t = tree();
    chmodSync(root, 0o777);
    expect(() => removeTree(t)).toThrow(/writable by group or others/);
    expect(existsSync(t)).toBe(true);
  });
});

describe('parseMountInfo', () => {
  it('decodes escaped mount points and reads the fields after the separator', () => {
    const text = '36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - tmpfs tmpfs rw,size=1024k,mode=711\n37 35 0:1 / /x rw - ext4 /dev/vda rw\n';
    expect(parseMountInfo(text)).toEqual([
      { mountPoint: '/mnt/a b', fsType: 'tmpfs', source: 'tmpfs', superOptions: 'rw,size=1024k,mode=711' },
      { mountPoint: '/x', fsType: 'ext4', source: '/dev/vda', superOptions: 'rw' },
    ]);
  });
});
