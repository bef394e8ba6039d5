import type { SiteConfig } from '../core/config/index.js';
import type { Fault } from '../core/errors.js';
import { readJobRecord, writeJobRecord, type EngineLog } from '../engine/index.js';
import { reason } from './classify.js';
import { writeOutcome } from './job-state.js';

/**
 * The job will not get its VMs; tell its owner through the job itself. Under real Torque a
 * prologue that fails delivers nothing to the user (no .o, no mail: measured, doc/admin.md), and a
 * failing Slurm Prolog drains the node; so the reason is left in the job's state dir with a record
 * that names no VM, and the scheduler lets the job run: the job wrapper (the runner, as the owner)
 * prints the reason and ends with the outcome's exit code, and the stop removes both without
 * libvirt. False when even that cannot be written: the adapter then aborts the job its own way.
 */
export function leaveOutcome(c: SiteConfig, jobId: string, owner: { user: string; uid: number; gid: number }, fault: Fault, sentence: string, log: EngineLog): boolean {
  try {
    // A record the undo could not finish stays as it is (the stop needs what it names).
    if (readJobRecord(c, jobId) === null) {
      writeJobRecord(c, { version: 1, jobId, owner: { user: owner.user, uid: owner.uid }, node: '', keepLogs: false, componentStops: [], vms: [], ramdisk: null, qemuUid: null, createdMs: Date.now() });
    }
    writeOutcome(c, { jobId, owner }, fault, `${sentence}.`);
    return true;
  } catch (err) {
    log.warn({ err: reason(err) }, "cannot leave the outcome for the job (its reason stays in the node's log)");
    return false;
  }
}
