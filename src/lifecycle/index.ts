// The job lifecycle every scheduler adapter drives: start, stop, gc and the outcome left for the
// owner, over a scheduler-neutral job context. Adapters map its outcomes to their exit codes.
export type { GuestEnvInput, JobContext, JobOwner, NodeAllocation, StartOutcome, StopOutcome } from './job-context.js';
export { startJob, readySummary, dropCancelSignal, type LifecycleDeps } from './start.js';
export { startRecordedHere, stopJobHere, stopJobPartHere, type StopDeps } from './stop.js';
export { withJobStartLock } from './job-lock.js';
export { collectGarbage, formatReap } from './gc.js';
export { recordMetrics, renderMetrics, METRICS_STATE_FILE, type MetricsEvent } from './metrics.js';
export { probeNodeAgents, type AgentProbe } from './agent-probe.js';
export { leaveOutcome } from './outcome.js';
export { clearAttempts, countAttempt } from './job-state.js';
export { resolveOwner } from './owner.js';
export { cancelled, faultOf, reason, type Fault } from './classify.js';
export type { EngineLog, PhaseMark, ReapResult, VmRecord } from '../engine/index.js';
export { ownerStatusPath, readOwnerStatusFile, readStatusFile, statusPath, type JobStatusV1, type StartAttempt } from './status.js';
