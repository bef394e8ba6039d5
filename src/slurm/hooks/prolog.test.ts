import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../core/config/index.js';
import { appLayout } from '../../core/install/paths.js';
import { parseSlurmHookEnv } from './context.js';
import { runSlurmProlog } from './prolog.js';
import type { SlurmClient, SlurmJob } from './slurm-client.js';

// The Prolog's decisions before any VM is made, with the controller replaced by a fake that
// answers as the real one did here (squeue --json, scontrol write batch_script).
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, child: () => quiet } as never;

function fixture(o: { job?: SlurmJob | null; script?: string }) {
  const root = mkdtempSync(join(tmpdir(), 'vtq-slprolog-'));
  dirs.push(root);
  const config = parseConfigText(`SPOOL_DIR: ${join(root, 'spool')}\nLOG_DIR: ${join(root, 'log')}\nVM_IMG_DIR: ${join(root, 'pool')}\n`, 'test').config;
  const calls: string[] = [];
  const job = (id: string) => {
    calls.push(`job ${id}`);
    return o.job === undefined ? { jobId: id, state: 'RUNNING', batchHost: 'n1', userId: 1001, memoryMiB: new Map([['n1', 4000]]) } : o.job;
  };
  const slurm: SlurmClient = {
    async state(id) { return job(id)?.state ?? null; },
    async batchScript(id) {
      calls.push(`batch_script ${id}`);
      return o.script ?? '#!/bin/sh\nhostname\n';
    },
    async queue(id) { return { job: job(id), active: new Set<string>() }; },
    async hostnames(list) { return list.split(','); },
    async requeue(id) { calls.push(`requeue ${id}`); },
    async holdBack(id, s) { calls.push(`holdBack ${id} ${s}`); },
    async note(id) { calls.push(`note ${id}`); },
    async showConfig() { calls.push('show config'); return 'Configuration data as of x\nPrologEpilogTimeout     = 600\n\n'; },
  };
  const lines: string[] = [];
  const deps = { config, layout: appLayout(import.meta.url), log: quiet, say: (l: string) => void lines.push(l), slurm };
  return { root, config, calls, lines, deps };
}
const env = { SLURM_SCRIPT_CONTEXT: 'prolog_slurmd', SLURM_JOB_ID: '42', SLURM_JOB_UID: '1001', SLURM_JOB_GID: '1001', SLURM_JOB_USER: 'alice', SLURMD_NODENAME: 'n1', SLURM_NODELIST: 'n1', SLURM_JOB_CPUS_PER_NODE: '2' };

describe("the Slurm Prolog's decisions before the VMs", () => {
  it('a job the controller no longer has, and a node that is not the batch host: nothing to do, exit 0, no script read', async () => {
    const gone = fixture({ job: null });
    expect(await runSlurmProlog(parseSlurmHookEnv('prolog', env), gone.deps)).toBe(0);
    expect(gone.calls).toEqual(['job 42']);
    const sister = fixture({ job: { jobId: '42', state: 'RUNNING', batchHost: 'n0', userId: 1001, memoryMiB: new Map() } });
    expect(await runSlurmProlog(parseSlurmHookEnv('prolog', env), sister.deps)).toBe(0);
    expect(sister.calls).toEqual(['job 42']);
  });

  it("a marked comment on a plain job (no request in the controller's copy): exit 0, nothing left", async () => {
    const f = fixture({ script: '#!/bin/sh\n#SBATCH -N1\nhostname\n' });
    expect(await runSlurmProlog(parseSlurmHookEnv('prolog', env), f.deps)).toBe(0);
    expect(f.calls).toEqual(['job 42', 'show config', 'batch_script 42']);
    expect(existsSync(join(f.root, 'spool', 'jobs'))).toBe(false);
  });

  it.skipIf(process.getuid?.() !== 0)("a malformed request: the job's fault, its reason left for the wrapper (owner-readable), exit 0: never a drained node", async () => {
    const f = fixture({ script: '#!/bin/sh\n#VTORQUE-REQUEST v1 not-base64!\nhostname\n' });
    expect(await runSlurmProlog(parseSlurmHookEnv('prolog', env), f.deps)).toBe(0);
    const outcome = JSON.parse(readFileSync(join(f.root, 'spool', 'jobs', '42', 'outcome.json'), 'utf8'));
    expect(outcome).toMatchObject({ jobId: '42', fault: 'job', exitCode: 65 });
    expect(outcome.reason).toMatch(/^the VM job cannot start: /);
    expect(f.calls).not.toContain('requeue 42');
  });

  it.skipIf(process.getuid?.() !== 0)('an owner name slurmd gave that is not a user name: failed with the reason, by uid', async () => {
    const f = fixture({});
    expect(await runSlurmProlog(parseSlurmHookEnv('prolog', { ...env, SLURM_JOB_USER: 'a b' }), f.deps)).toBe(0);
    expect(JSON.parse(readFileSync(join(f.root, 'spool', 'jobs', '42', 'outcome.json'), 'utf8')).reason).toMatch(/^the VM job cannot start: job owner "a b": expected a user name/);
  });
});
