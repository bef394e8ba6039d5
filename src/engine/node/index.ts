// What happens on one node of a job, behind NodeAccess: observe under the node lock, prepare,
// boot, the node's neighbour table and leases, records, teardown. localNode does it on this host.
export type { NodeAccess, NodeBooted, NodePrepared, NodePrepareInput, NodeReservation, NodeStopResult, PreparedVmFacts, RevivedVm } from './access.js';
export { localNode, type LocalNodeOptions } from './local.js';
export { readVmRecords, stopJobVms, VMS_FILE } from './stop-vms.js';
export { serveNodeOps } from './agent.js';
export { connectNode, type AgentCommand, type RemoteNode } from './remote.js';
export { NODE_OPS_VERSION } from './wire.js';
