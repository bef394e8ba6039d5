export { parseProcNetArp, readProcNetArp, forgetArp, ipsOfMacs, type ArpEntry, type ForgetArpOptions } from './arp.js';
export { waitForIps, IpDiscoveryError, type WaitForIpsOptions } from './wait-for-ips.js';
export { leaseLookup, parseDhcpLeases, currentLease, type DhcpLease, type LeaseLookupOptions } from './leases.js';
export { waitForSsh, parseHostKey, HostKeyMismatchError, SshNotReadyError, type WaitForSshOptions } from './ssh-ready.js';
