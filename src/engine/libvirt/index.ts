export { openLibvirt, type LibvirtNode, type DomainRunState, type OpenOptions } from './node.js';
export { LibvirtError, isNotFound, isNotRunning, type LibvirtOp } from './errors.js';
export { DeadlineError, withDeadline } from './deadline.js';
export { domainType, decideDomainType, isTestUri, qemuLogPath, type DomainTypeOptions, type HypervisorSetting } from './domain-type.js';
export { probeKvm, type ProbeResult, type KvmProbeOptions } from './kvm-probe.js';
export { toDomainSpec, toCpuset, type DomainSpecOptions } from './domain-spec.js';
export { silentLog, type EngineLog } from './log.js';
