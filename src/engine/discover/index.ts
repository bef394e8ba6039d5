export { parseProcNetArp, readProcNetArp, forgetArp, forgetNeighboursOf, ipsOfMacs, neighbourPairs, type ArpEntry, type ForgetArpOptions } from './arp.js';
export { waitForIps, IpDiscoveryError, type WaitForIpsOptions } from './wait-for-ips.js';
export { leaseLookup, leaseCandidates, networkLeaseSeconds, parseDhcpLeases, currentLease, DNSMASQ_DEFAULT_LEASE_S, type Candidate, type DhcpLease, type LeaseLookupOptions } from './leases.js';
export { waitForSsh, CLOUD_INIT_DONE, parseHostKey, HostKeyMismatchError, HostUnreachableError, SshNotReadyError, SSH_STAGES, type WaitForSshOptions } from './ssh-ready.js';
export { BootWatch, CPU_BUSY_SHARE, CPU_WINDOW_MS, lstatSize, type BootWatchOptions, type CpuSample, type WatchedVm, type WatchState } from './boot-watch.js';
