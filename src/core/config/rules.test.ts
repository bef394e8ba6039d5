import { describe, expect, it } from 'vitest';
import { formatIssue } from '../errors.js';
import { validateConfig } from './validate.js';

const lines = (raw: Record<string, unknown>): string[] => validateConfig(raw, { source: 'site.yaml' }).errors.map(formatIssue);
const VIRTIOFS = "virtiofs is refused: libvirt 9 runs virtiofsd as root in passthrough mode with no id mapping, so root in any guest would get root's access to the shared directory";

describe('config rules: user images and shared homes', () => {
  it('refuses virtiofs in every form, one line per key naming the accepted form and the NFS alternative', () => {
    expect(lines({ VM_SHARE_TYPE: 'virtiofs', VM_VIRTIOFS_HOME: '/home', VM_VIRTIOFS_OPT: '/opt/hpc' })).toEqual([
      `site.yaml: VM_SHARE_TYPE = "virtiofs": expected nfs: ${VIRTIOFS}; share home, workspace and opt with VM_NFS_HOME/WS/OPT`,
      `site.yaml: VM_VIRTIOFS_HOME = "/home": expected "": ${VIRTIOFS}; share it with VM_NFS_HOME (VM_SHARE_TYPE: nfs)`,
      `site.yaml: VM_VIRTIOFS_OPT = "/opt/hpc": expected "": ${VIRTIOFS}; share it with VM_NFS_OPT (VM_SHARE_TYPE: nfs)`,
    ]);
    // A directory is refused even with VM_SHARE_TYPE nfs: it is never silently dropped either.
    expect(lines({ VM_VIRTIOFS_WS: '/workspace' })).toEqual([`site.yaml: VM_VIRTIOFS_WS = "/workspace": expected "": ${VIRTIOFS}; share it with VM_NFS_WS (VM_SHARE_TYPE: nfs)`]);
    expect(lines({ VM_SHARE_TYPE: 'nfs', VM_NFS_HOME: 'nfs1:/export/home', VM_VIRTIOFS_HOME: '' })).toEqual([]);
    for (const l of lines({ VM_SHARE_TYPE: 'virtiofs', VM_VIRTIOFS_HOME: '/home', VM_VIRTIOFS_WS: '/ws', VM_VIRTIOFS_OPT: '/opt' })) expect(l).not.toContain('\n');
  });

  it('refuses ALLOW_USER_IMAGES while NFS exports reach the guests (root in a user\'s image speaks for any uid there)', () => {
    expect(lines({ ALLOW_USER_IMAGES: true, VM_NFS_HOME: 'nfs1:/export/home', VM_NFS_OPT: 'nfs2:/opt' })).toEqual([
      'site.yaml: ALLOW_USER_IMAGES = true: expected false while VM_NFS_HOME, VM_NFS_OPT export to the guests: root in a user\'s own image could use any uid on that export (or set VM_NFS_HOME, VM_NFS_OPT to "")',
    ]);
    expect(lines({ ALLOW_USER_IMAGES: true })).toEqual([]);
    expect(lines({ ALLOW_USER_IMAGES: false, VM_NFS_HOME: 'nfs1:/export/home' })).toEqual([]);
  });

  it('USER_IMAGE_MAX_MB takes a size, bounded', () => {
    expect(validateConfig({ USER_IMAGE_MAX_MB: '8G' }, { source: 's' }).config?.USER_IMAGE_MAX_MB).toBe(8192);
    expect(lines({ USER_IMAGE_MAX_MB: '1M' })).toEqual(['site.yaml: USER_IMAGE_MAX_MB = "1M": expected a size like 2048M, 4G or 1T (K/M/G/T; a bare number is MiB), from 64 to 16777216 MiB']);
  });

  it('NODE_AGENT_COMMAND: an argv list from an absolute program, braces only as its placeholders', () => {
    const ok = ['/usr/bin/ssh', '-T', 'root@{node}', '{node_binary}', '{vtorque}', 'node-agent', '--name', '{node}'];
    expect(validateConfig({ NODE_AGENT_COMMAND: ok }, { source: 's' }).config?.NODE_AGENT_COMMAND).toEqual(ok);
    const refused = 'expected an argv list whose first element is an absolute program path; braces only as {node}, {node_binary}, {vtorque}';
    expect(lines({ NODE_AGENT_COMMAND: ['ssh', 'root@{node}'] })[0]).toContain(refused);
    expect(lines({ NODE_AGENT_COMMAND: ['/usr/bin/ssh', 'root@{host}'] })[0]).toContain(refused);
    expect(lines({ NODE_AGENT_COMMAND: [] })[0]).toContain(refused);
  });
});
