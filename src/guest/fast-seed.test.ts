import { describe, expect, it } from 'vitest';
import { buildFastSeed, fastSeedCovers, fastSeedManifest } from './fast-seed.js';
import type { GuestSpec } from './guest-spec.js';

import { HOST_PUBLIC, PRIVATE, spec as full, USER_KEY } from './guest-spec.fixture.js';

// What vtorque-seed alone can start: no packages, NTP or user metadata; an NFS home.
const spec: GuestSpec = { ...full, mounts: [full.mounts[0]!], ntp: [], packages: [], nodeFile: '', userMetadata: null, envFile: "export PBS_JOBID='42.srv'\n" };
const withSpec = (patch: Partial<GuestSpec>): GuestSpec => ({ ...spec, ...patch });

describe('buildFastSeed (the vtorque/ part of the seed)', () => {
  it('says who the user is and what the host is called, one key=value per line', () => {
    expect(buildFastSeed(spec).conf).toBe('version=1\nuser=alice\nuid=1234\ngid=1000\ngroup=hpc\nhostname=vtq-42-node01-0\n');
  });

  it('carries the host key, the sshd snippet, the job key, the profile and the environment with their modes', () => {
    const seed = buildFastSeed(spec);
    const byPath = new Map(seed.files.map((f) => [f.path, f]));
    expect(byPath.get('/etc/ssh/ssh_host_ed25519_key')).toEqual({ path: '/etc/ssh/ssh_host_ed25519_key', mode: 0o600, content: PRIVATE });
    expect(byPath.get('/etc/ssh/ssh_host_ed25519_key.pub')?.content).toBe(`${HOST_PUBLIC}\n`);
    expect(byPath.get('/etc/ssh/sshd_config.d/50-vtorque.conf')?.content).toMatch(/^PasswordAuthentication no$/m);
    expect(byPath.get('/etc/ssh/authorized_keys/alice')).toEqual({ path: '/etc/ssh/authorized_keys/alice', mode: 0o644, content: `${USER_KEY}\n` });
    expect(byPath.get('/var/spool/torque/vm/job.env')?.content).toBe(spec.envFile);
    expect(byPath.has('/etc/profile.d/vtorque-job.sh')).toBe(true);
    expect(fastSeedManifest(seed)).toBe(seed.files.map((f) => `${f.mode === 0o600 ? '0600' : '0644'} ${f.path}\n`).join(''));
  });

  it('writes resolv.conf from the site DNS, and none without it', () => {
    const dns = buildFastSeed(spec).files.find((f) => f.path === '/etc/resolv.conf');
    expect(dns?.content).toBe('domain cluster.local\nsearch cluster.local lab.example\nnameserver 10.0.0.2\n');
    expect(buildFastSeed(withSpec({ dns: null })).files.some((f) => f.path === '/etc/resolv.conf')).toBe(false);
  });

  it('turns mounts into fstab lines that never fail the boot', () => {
    expect(buildFastSeed(spec).fstab).toBe('nfs1:/export/home /home nfs rw,noatime,nofail 0 0\n');
    expect(buildFastSeed(withSpec({ mounts: [] })).fstab).toBe('');
  });

  it('refuses a user name no guest path may carry (checked before any file is made)', () => {
    expect(() => buildFastSeed(withSpec({ user: { ...spec.user, name: 'al ice' } }))).toThrow();
  });
});

describe('fastSeedCovers (whether vtorque-seed alone can start the VM)', () => {
  it('covers users, keys, files, mounts and DNS', () => {
    expect(fastSeedCovers(spec)).toBe(true);
  });

  it.each([
    ['packages from the site', { packages: ['htop'] }],
    ['time servers', { ntp: ['ntp1.cluster.local'] }],
    ["packages in the user's metadata", { userMetadata: { packages: ['htop'] } }],
    ["a cloud-config setting in the user's metadata", { userMetadata: { timezone: 'Europe/Berlin' } }],
    ['a node file known at seed time', { nodeFile: '10.0.0.5\n' }],
  ])('leaves the VM to cloud-init for %s', (_label, patch) => {
    expect(fastSeedCovers(withSpec(patch as Partial<GuestSpec>))).toBe(false);
  });
});
