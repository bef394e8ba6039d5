import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_DIR } from '../e2e/helpers/vm-site.js';
import { multinodeCluster, type Cluster } from './cluster.js';

// Multi-node VM jobs through real Torque 6.1.3 on the virtual cluster (`vtorque testbed`): three
// nodes, each its own netns + mount + UTS namespace with its own libvirtd, sshd and pbs_mom (the
// head also pbs_server and pbs_sched). Jobs are submitted with the installed vsub on the head as
// an unprivileged user; the mother superior's prologue reaches the sisters through their node
// agents over ssh; rank 0 reaches every VM of the job with the job's key.
const USER = 'vtqmn';
const t0 = performance.now();
const log = (line: string): void => void process.stderr.write(`[multinode +${((performance.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const isRoot = process.getuid?.() === 0;
const JOB_MS = 25 * 60_000;

/** Rank 0's script: every VM of the node file (in rank order, once each) answers ssh with its host name. */
const REACH_SCRIPT = [
  '#!/bin/sh',
  'echo "RANK0 $(hostname)"',
  'echo "ENV hosts=$VTORQUE_NUM_HOSTS vms=$VTORQUE_NUM_VMS layout=$VTORQUE_VM_LAYOUT np=$PBS_NP"',
  'for ip in $(awk \'!seen[$0]++\' "$PBS_VMNODEFILE"); do',
  '  echo "REACH $ip $(ssh -i /var/spool/torque/vm/id_ed25519 -o UserKnownHostsFile=/var/spool/torque/vm/known_hosts -o BatchMode=yes -o ConnectTimeout=30 "$ip" hostname 2>&1)"',
  'done',
  '',
].join('\n');

let c: Cluster;

describe.skipIf(!isRoot)('multi-node VM jobs through real Torque on the testbed (slow: TCG guests on every node)', () => {
  beforeAll(async () => {
    c = multinodeCluster({ nodes: 3, user: USER, imageDir: IMAGE_DIR, log });
    await c.open();
    c.writeUserFile('reach.sh', REACH_SCRIPT, 0o755);
    c.writeUserFile('sleepy.sh', '#!/bin/sh\necho "JOB must not run"\nsleep 600\n', 0o755);
  }, 20 * 60_000);

  afterAll(async () => {
    await c?.close();
  }, 10 * 60_000);

  /** What every REACH line says, and the check that every VM answered with a host name of its own. */
  function reached(out: string, vms: number): { ip: string; host: string }[] {
    const lines = out.split('\n').filter((l) => l.startsWith('REACH ')).map((l) => {
      const [, ip, host] = l.split(' ');
      return { ip: ip as string, host: host as string };
    });
    expect(lines, out).toHaveLength(vms);
    for (const r of lines) expect(r.host, out).toMatch(/^[a-z][a-z0-9-]*$/);
    expect(new Set(lines.map((r) => r.host)).size).toBe(vms);
    return lines;
  }

  it('2 nodes x 1 VM: rank 0 reaches both VMs, one on each node; exit code back; nothing left anywhere', async () => {
    const id = c.vsub(['-N', 'mn-2x1', '-l', `nodes=${c.node(1)}:ppn=1+${c.node(2)}:ppn=1`, '-vm', 'vcpus=1', 'reach.sh']);
    const { info, out } = await c.finished(id, '2x1', JOB_MS);
    expect(info.exit_status).toBe('0');
    expect(info.start_count).toBe('1');
    expect(info.exec_host).toMatch(new RegExp(`^${c.node(1)}/`));
    expect(out).toMatch(/vTorque: 2 VM\(s\) ready in/);
    const r = reached(out, 2);
    expect(r.map((x) => c.nodeOfGuest(x.ip))).toEqual([c.node(1), c.node(2)]);
    expect(out).toMatch(/^ENV hosts=2 vms=2 /m);
    await c.nothingLeft(id);
  }, JOB_MS);

  it('3 nodes x 2 VMs: six guests booted at once, the node file in rank order, rank 0 reaches every VM', async () => {
    const id = c.vsub(['-N', 'mn-3x2', '-l', `nodes=${c.node(1)}:ppn=2+${c.node(2)}:ppn=2+${c.node(3)}:ppn=2`, '-vm', 'vcpus=1,vms_per_node=2', 'reach.sh']);
    const { info, out } = await c.finished(id, '3x2', JOB_MS);
    expect(info.exit_status).toBe('0');
    expect(out).toMatch(/vTorque: 6 VM\(s\) ready in/);
    const r = reached(out, 6);
    expect(r.map((x) => c.nodeOfGuest(x.ip))).toEqual([c.node(1), c.node(1), c.node(2), c.node(2), c.node(3), c.node(3)]);
    expect(out).toMatch(/^ENV hosts=3 vms=6 /m);
    await c.nothingLeft(id);
  }, JOB_MS);

  it('qdel during a multi-node boot: the VMs go on every node, nothing is left, the nodes stay free', async () => {
    const id = c.vsub(['-N', 'mn-qdel', '-l', `nodes=${c.node(1)}:ppn=1+${c.node(2)}:ppn=1`, '-vm', 'vcpus=1', 'sleepy.sh']);
    await c.waitForDomains(2, 1, 180_000); // the sister's VM is defined and booting
    c.qdel(id);
    const { out, err } = await c.finished(id, 'qdel', 5 * 60_000);
    expect(`${out}${err}`).not.toContain('JOB must not run');
    await c.nothingLeft(id);
  }, JOB_MS);

  it("a sister whose libvirtd is down: a node fault naming it, requeued twice, then exit 69; nothing left on the head", async () => {
    await c.stopLibvirtd(2);
    try {
      const id = c.vsub(['-N', 'mn-nolibvirt', '-l', `nodes=${c.node(1)}:ppn=1+${c.node(2)}:ppn=1`, '-vm', 'vcpus=1', 'reach.sh']);
      const { info, out } = await c.finished(id, 'sister libvirtd down', 10 * 60_000);
      expect(info.exit_status).toBe('69');
      expect(info.start_count).toBe('3');
      expect(out).toMatch(/failed to start on the job's nodes 3 times \(last: cannot reach 1 node\(s\) of the job: vtqmn-n2: .*libvirt/);
      expect(out).toContain(c.node(2));
      await c.restore();
      await c.nothingLeft(id);
    } finally {
      await c.restore();
    }
  }, JOB_MS);

  it('a sister whose sshd is down: the head cannot reach its agent, a node fault naming it; nothing left', async () => {
    await c.stopSshd(3);
    try {
      const id = c.vsub(['-N', 'mn-nossh', '-l', `nodes=${c.node(1)}:ppn=1+${c.node(3)}:ppn=1`, '-vm', 'vcpus=1', 'reach.sh']);
      const { info, out } = await c.finished(id, 'sister sshd down', 10 * 60_000);
      expect(info.exit_status).toBe('69');
      expect(info.start_count).toBe('3');
      expect(out).toMatch(/failed to start on the job's nodes 3 times \(last: cannot reach 1 node\(s\) of the job: vtqmn-n3: .*ssh/);
      await c.restore();
      await c.nothingLeft(id);
    } finally {
      await c.restore();
    }
  }, JOB_MS);
});
