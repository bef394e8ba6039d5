// Test fixture: one GuestSpec with every optional part, shared by the user-data and fast-seed tests.
import type { GuestSpec } from './guest-spec.js';

export const PRIVATE = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAVEVTVC1PTkxZ\nTk9ULUEtUkVBTC1LRVk=\n-----END OPENSSH PRIVATE KEY-----\n';
export const HOST_PUBLIC = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qtb25seS1ob3N0LWtleQ host@vtq-42';
export const USER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qtb25seS11c2VyLWtleQ vtorque-job-42.srv';

export const spec: GuestSpec = {
  hostname: 'vtq-42-node01-0',
  instanceId: 'vtq-42.srv-node01-0-1700000000',
  user: { name: 'alice', uid: 1234, gid: 1000, group: 'hpc', sshAuthorizedKey: USER_KEY },
  hostKeys: { ed25519: { private: PRIVATE, public: HOST_PUBLIC } },
  mounts: [
    { kind: 'nfs', source: 'nfs1:/export/home', target: '/home' },
    { kind: 'virtiofs', tag: 'vtq-ws', target: '/workspace' },
  ],
  dns: { nameserver: '10.0.0.2', domain: 'cluster.local', search: 'cluster.local lab.example' },
  ntp: ['ntp1.cluster.local', '10.0.0.3'],
  packages: ['htop'],
  envFile: "export PBS_JOBID='42.srv'\nexport DISTRO='SLG'\n",
  nodeFile: '10.213.0.11\n10.213.0.12\n',
  jobId: '42.srv',
  userMetadata: { packages: ['gfortran', 'htop'], timezone: 'Europe/Berlin', package_update: true },
};
