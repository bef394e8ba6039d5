export { bootVms, BootError, type BootDomain, type BootOptions, type BootedVm, type BootFailure, type BootPhase } from './boot-vms.js';
