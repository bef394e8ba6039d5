// The engine: the head of a job (plan, fan-out, readiness, node file) over its nodes, and what
// happens on one node (observe, lock, prepare, boot, discover, teardown, gc). No scheduler knowledge.
export { startJobVms, type LocalStartInput, type StartedJob } from './start-local.js';
export type { EngineContext } from './context.js';
export { startOnNodes, type HeadContext, type StartInput, type StartedOnNodes } from './head/index.js';
export { connectNode, localNode, readVmRecords, serveNodeOps, stopJobVms, VMS_FILE, NODE_OPS_VERSION, type AgentCommand, type LocalNodeOptions, type NodeAccess, type NodeReservation, type RemoteNode, type NodeStopResult as StopResult, type RevivedVm } from './node/index.js';
export type { VmRecord } from '../core/contract/job-state.v1.js';
export { observeNode, observeDomains } from './observe.js';
export { planJob, CapacityError } from './plan.js';
export { domainName, domainPrefix, guestHostname, jobDirName } from './naming.js';
export { openLibvirt, domainType, isTestUri, withDeadline, type LibvirtNode, type EngineLog } from './libvirt/index.js';
export { inImagePool, jobDirPath, ramdiskPath, removeJobFiles } from './prepare/index.js';
export { componentsFor, componentStops, startComponents, stopComponentCommands, type ComponentCommand, type ComponentJob, type ComponentName } from './components.js';
export { readJobRecord, removeJobRecord, updateJobRecord, writeJobRecord, recordPath, type JobRecordV1 } from './job-record.js';
export { cancelDirPath, cancelRequested, openCancelSignal, removeCancelSignal, CANCEL_DIR, CANCEL_MARKER } from './cancel-signal.js';
export { recordMadeNoVms, stopJob, type StopContext, type StopJobResult } from './stop-job.js';
export type { DomainType, JobIdentity, JobPlan, NodeState, VmPlan } from './types.js';
export type { PhaseMark } from './timeline.js';
export type { StartRecord } from './head/index.js';
export { reapOrphans, type ReapOptions, type ReapResult, type ReapedJob } from './gc.js';
export { qemuUserText } from './qemu-identity.js';
export { vmNodeFile } from './guest-files.js';
export { bootFilesFor, nodeEngine, type BootFiles } from './node-context.js';
