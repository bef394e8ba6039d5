import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/core/exec/run.js';
import { asUserArgv, resolveTestbedOptions, testbedDown, testbedLayout, testbedNodeArgv, testbedUp, type TestbedOptions } from '../../src/testbed/index.js';
import { IMAGE_DIR, REPO } from '../e2e/helpers/vm-site.js';
import { parseScontrolLine } from './real-slurm.js';

// A 2-node VM job through real Slurm 22.05 on the virtual cluster (`vtorque testbed up
// --scheduler slurm`): two nodes, each its own netns + mount + UTS namespace with its own
// libvirtd, sshd and slurmd (the head also slurmctld). The job is submitted with the installed
// vsbatch on the head as an unprivileged user; the batch host's Prolog reaches the other node
// through its node agent over ssh; rank 0 reaches every VM of the host file with the job's key.
const USER = 'vtqsm';
const t0 = performance.now();
const log = (line: string): void => void process.stderr.write(`[slurm-multinode +${((performance.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const isRoot = process.getuid?.() === 0;
const opts: TestbedOptions = { nodes: 2, name: 'vtqsm', scheduler: 'slurm', imageDir: IMAGE_DIR, sourceRoot: REPO, log: (l) => log(`testbed: ${l}`) };
const tb = resolveTestbedOptions(opts);
const l = testbedLayout(tb);
const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED'];

const REACH_SCRIPT = [
  '#!/bin/sh',
  'echo "RANK0 $(hostname) nodes=$SLURM_JOB_NUM_NODES layout=$VTORQUE_VM_LAYOUT"',
  'for ip in $(awk \'!seen[$0]++\' "$SLURM_HOSTFILE"); do',
  '  echo "REACH $ip $(ssh -i /var/spool/torque/vm/id_ed25519 -o UserKnownHostsFile=/var/spool/torque/vm/known_hosts -o BatchMode=yes -o ConnectTimeout=30 "$ip" hostname 2>&1)"',
  'done',
  'exit 4',
  '',
].join('\n');

let home = '';
const work = (): string => join(home, 'vtorque-slurm-multinode');
const onHead = (argv: readonly string[]): { status: number | null; stdout: string; stderr: string } => {
  const full = testbedNodeArgv(opts, '1', argv);
  const r = spawnSync(full[0] as string, full.slice(1), { encoding: 'utf8', timeout: 120_000, env: { PATH: '/usr/bin:/bin', SLURM_CONF: join(tb.stateDir, 'slurm', 'slurm.conf') } });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const job = (id: string): Record<string, string> | null => {
  const r = onHead(['/usr/bin/scontrol', 'show', 'job', '-o', id]);
  return r.status === 0 && r.stdout.trim() !== '' ? parseScontrolLine(r.stdout.trim()) : null;
};
const domains = async (i: number): Promise<string[]> => {
  const nl = l.node(tb.nodes[i - 1] as never);
  const r = await run('virsh', ['-c', `qemu:///system?socket=${nl.libvirtStateDir}/run/libvirt-sock`, 'list', '--all', '--name'], { timeoutMs: 30_000 });
  return r.stdout.split('\n').map((s) => s.trim()).filter((s) => s.startsWith('vtq-'));
};

describe.skipIf(!isRoot)('a multi-node VM job through real Slurm on the testbed (slow: TCG guests on both nodes)', () => {
  beforeAll(async () => {
    await testbedDown(opts); // a run killed before its close()
    if (spawnSync('id', ['-u', USER]).status !== 0) spawnSync('useradd', ['--create-home', '--shell', '/bin/bash', USER]);
    const pw = spawnSync('getent', ['passwd', USER], { encoding: 'utf8' }).stdout.split(':');
    home = pw[5] as string;
    rmSync(work(), { recursive: true, force: true });
    mkdirSync(work(), { recursive: true, mode: 0o755 });
    chownSync(work(), Number(pw[2]), Number(pw[3]));
    writeFileSync(join(work(), 'reach.sh'), REACH_SCRIPT, { mode: 0o755 });
    chownSync(join(work(), 'reach.sh'), Number(pw[2]), Number(pw[3]));
    const status = await testbedUp(opts);
    expect(status.ready, JSON.stringify(status)).toBe(true);
  }, 20 * 60_000);

  afterAll(async () => {
    await testbedDown(opts);
    if (home !== '') rmSync(work(), { recursive: true, force: true });
  }, 10 * 60_000);

  it('2 nodes x 1 VM: the batch host boots both, rank 0 reaches both VMs over ssh, the exit code comes back, nothing is left on either node', async () => {
    const user = await asUserArgv(opts, USER, ['sh', '-c', 'cd "$1" && shift && exec "$@"', 'vsbatch', work(), join(l.installDir, 'bin', 'vsbatch'), '-N', '2', '--vm', 'vcpus=1', 'reach.sh']);
    const sub = onHead(user);
    log(`vsbatch -> ${sub.status}: ${sub.stdout.trim()} ${sub.stderr.trim()}`);
    const id = /Submitted batch job (\d+)/.exec(sub.stdout)?.[1] as string;
    expect(id, `${sub.stdout}${sub.stderr}`).toBeDefined();
    const until = performance.now() + 20 * 60_000;
    let info = job(id);
    let last = '';
    while (performance.now() < until && !(info !== null && FINAL.includes(info.JobState ?? ''))) {
      const state = `${info?.JobState} ${info?.Reason} on ${info?.NodeList}`;
      if (state !== last) log(`job ${id}: ${state}`);
      last = state;
      await new Promise((r) => setTimeout(r, 2000));
      info = job(id);
    }
    const out = existsSync(join(work(), `slurm-${id}.out`)) ? readFileSync(join(work(), `slurm-${id}.out`), 'utf8') : '';
    for (const line of out.split('\n').filter(Boolean)) log(`  out| ${line}`);
    expect(info?.JobState).toBe('FAILED');
    expect(info?.ExitCode).toBe('4:0');
    expect(info?.NodeList).toBe(`${tb.name}-n[1-2]`);
    expect(out).toMatch(/^RANK0 \S+ nodes=2 layout=vtqsm-n1:1,vtqsm-n2:1$/m);
    const reach = out.split('\n').filter((x) => x.startsWith('REACH ')).map((x) => x.split(' '));
    expect(reach, out).toHaveLength(2);
    expect(reach.map((r) => r[1]?.split('.').slice(0, 3).join('.')).sort()).toEqual([tb.nodes[0]?.guestSubnet, tb.nodes[1]?.guestSubnet]);
    expect(new Set(reach.map((r) => r[2])).size).toBe(2);
    for (const r of reach) expect(r[2], out).toMatch(/^[a-z][a-z0-9-]*$/);
    // Every node's Epilog tore down its part: no domain, no state, both nodes idle.
    for (let k = 0; k < 60; k++) {
      const states = onHead(['/usr/bin/sinfo', '-h', '-N', '-o', '%N %T']).stdout.trim().split('\n');
      if (states.every((s) => s.endsWith(' idle'))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(onHead(['/usr/bin/sinfo', '-h', '-N', '-o', '%N %T']).stdout.trim().split('\n').sort()).toEqual([`${tb.name}-n1 idle`, `${tb.name}-n2 idle`]);
    for (let i = 1; i <= 2; i++) {
      const nl = l.node(tb.nodes[i - 1] as never);
      const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);
      expect({ node: i, domains: await domains(i), jobDirs: list(join(nl.spool, 'jobs')), records: list(join(nl.spool, 'records')) }).toEqual({ node: i, domains: [], jobDirs: [], records: [] });
    }
  }, 25 * 60_000);
});
