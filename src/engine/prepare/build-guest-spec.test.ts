import { describe, expect, it } from 'vitest';
import type { SiteConfig } from '../../core/config/schema.js';
import { defaultConfig } from '../../core/config/validate.js';
import type { VmRequest } from '../../core/request/types.js';
import type { JobPlan, VmPlan } from '../types.js';
import { buildGuestSpec, guestMounts, virtiofsShares } from './build-guest-spec.js';

const base = defaultConfig();
const cfg = (over: Partial<SiteConfig>): SiteConfig => ({ ...base, ...over });

describe('guestMounts', () => {
  it('mounts each configured NFS export, and only those', () => {
    expect(guestMounts(cfg({ VM_NFS_HOME: 'nfs1:/home', VM_NFS_OPT: 'nfs2:/opt' }))).toEqual([
      { kind: 'nfs', source: 'nfs1:/home', target: '/home' },
      { kind: 'nfs', source: 'nfs2:/opt', target: '/opt-hpc' },
    ]);
    expect(guestMounts(base)).toEqual([]);
  });

  it('refuses virtiofs in any form (a root virtiofsd in passthrough mode), naming the key and NFS, as a node fault', () => {
    const refused = (c: SiteConfig, key: string) => {
      for (const fn of [virtiofsShares, guestMounts]) {
        let err: unknown;
        try {
          fn(c);
        } catch (e) {
          err = e;
        }
        expect(err).toMatchObject({ code: 'CONFIG_INVALID', fault: 'node', message: expect.stringMatching(new RegExp(`^${key}: virtiofs is refused: .* root in any guest .*; share home, workspace and opt with VM_NFS_HOME/WS/OPT \\(VM_SHARE_TYPE: nfs\\)$`)) });
      }
    };
    refused(cfg({ VM_SHARE_TYPE: 'virtiofs', VM_VIRTIOFS_HOME: '/export/home', VM_VIRTIOFS_WS: '/export/ws' }), 'VM_VIRTIOFS_HOME, VM_VIRTIOFS_WS');
    // Even with VM_SHARE_TYPE nfs a directory is never exported (and never silently dropped).
    refused(cfg({ VM_VIRTIOFS_OPT: '/opt' }), 'VM_VIRTIOFS_OPT');
    refused(cfg({ VM_SHARE_TYPE: 'virtiofs' }), 'VM_SHARE_TYPE virtiofs');
    expect(virtiofsShares(cfg({ VM_NFS_HOME: 'nfs1:/home' }))).toEqual([]);
  });
});

describe('buildGuestSpec', () => {
  const vm = { name: 'vtq-7.srv-n01-1', hostname: 'vn01-1', mac: '52:54:00:00:00:01' } as VmPlan;
  const request = { distro: 'debian', metadata: { path: '/home/a/m.yaml', data: { timezone: 'UTC' } } } as unknown as VmRequest;
  const plan = { job: { jobId: '7.srv', owner: { user: 'alice', uid: 1000, gid: 1001, group: 'hpc' } }, request, vms: [vm] } as unknown as JobPlan;
  const input = (c: SiteConfig, p: JobPlan = plan) => ({
    plan: p, vm, config: c, envFile: 'x', instanceSuffix: '0123abcd', userKeyPublic: 'ssh-ed25519 AAAA u',
    hostKey: { privateKey: 'PRIV', publicKey: 'ssh-ed25519 BBBB h' },
  });

  it('fills the spec from the plan and the site config', () => {
    const spec = buildGuestSpec(input(cfg({ NAME_SERVER: '10.0.0.2', DOMAIN: 'c.local', NTP_SERVER_2: 'ntp2', SW_PACKAGES_DEBIAN: ['htop'], SW_PACKAGES_REDHAT: ['vim'] })));
    expect(spec).toMatchObject({
      hostname: 'vn01-1', instanceId: 'vtq-7.srv-n01-1-0123abcd', jobId: '7.srv', nodeFile: '', envFile: 'x',
      user: { name: 'alice', uid: 1000, gid: 1001, group: 'hpc', sshAuthorizedKey: 'ssh-ed25519 AAAA u' },
      hostKeys: { ed25519: { private: 'PRIV', public: 'ssh-ed25519 BBBB h' } },
      dns: { nameserver: '10.0.0.2', domain: 'c.local', search: '' }, ntp: ['ntp2'], packages: ['htop'], userMetadata: { timezone: 'UTC' },
    });
  });

  it('has no DNS without NAME_SERVER and takes the RedHat packages for other distros', () => {
    const redhat = { ...plan, request: { ...request, distro: 'redhat', metadata: null } } as JobPlan;
    const spec = buildGuestSpec(input(cfg({ SW_PACKAGES_DEBIAN: ['htop'], SW_PACKAGES_REDHAT: ['vim'] }), redhat));
    expect([spec.dns, spec.packages, spec.userMetadata, spec.ntp]).toEqual([null, ['vim'], null, []]);
  });
});
