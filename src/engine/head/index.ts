// What the head of a job does over its nodes: plan, bounded fan-out under one deadline,
// readiness (addresses, SSH), the VM node file in rank order. Nodes only through NodeAccess.
export { startOnNodes, type StartedOnNodes } from './start.js';
export type { HeadContext, StartInput, StartRecord } from './types.js';
export { PROGRESS_EVERY_MS, REVIVE_EVERY_MS, UNREACHABLE_RESOLVE_MS } from './readiness.js';
