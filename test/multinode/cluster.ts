// The multi-node tier's handle on a testbed: up (real Torque, every node's libvirtd, sshd and
// pbs_mom), a job user, jobs submitted with the installed vsub on the head, qstat -f, what every
// node has left after a job, faults made by stopping a node's daemon by its verified pid, down.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/core/exec/run.js';
import { sandboxStatus, terminate } from '../../src/sandbox/index.js';
import { asUserArgv, testbedDown, testbedLayout, testbedNodeArgv, testbedUp, resolveTestbedOptions, type TestbedOptions } from '../../src/testbed/index.js';
import { REPO } from '../e2e/helpers/vm-site.js';
import { parseQstatF, TORQUE_DIR, type JobInfo } from '../torque/real-torque.js';


export interface Cluster {
  open(): Promise<void>;
  close(): Promise<void>;
  /** Node i's name (1-based). */
  node(i: number): string;
  /** Which node's guest network an address is on. */
  nodeOfGuest(ip: string): string;
  writeUserFile(name: string, text: string, mode: number): string;
  vsub(args: readonly string[]): string;
  qdel(id: string): void;
  job(id: string): JobInfo | null;
  finished(id: string, what: string, timeoutMs: number): Promise<{ info: JobInfo; out: string; err: string }>;
  /** Waits until node i has at least `count` vtq- domains. */
  waitForDomains(node: number, count: number, timeoutMs: number): Promise<void>;
  nothingLeft(id: string): Promise<void>;
  stopLibvirtd(node: number): Promise<void>;
  stopSshd(node: number): Promise<void>;
  /** testbed up again: whatever was stopped runs again (up is idempotent). */
  restore(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function multinodeCluster(o: { nodes: number; user: string; imageDir: string; log: (line: string) => void; name?: string }): Cluster {
  const opts: TestbedOptions = { nodes: o.nodes, name: o.name ?? 'vtqmn', imageDir: o.imageDir, sourceRoot: REPO, log: (l) => o.log(`testbed: ${l}`) };
  const tb = resolveTestbedOptions(opts);
  const l = testbedLayout(tb);
  let home = '';
  const work = (): string => join(home, 'vtorque-multinode');

  const onNode = (node: number | string, argv: readonly string[], input = ''): { status: number | null; stdout: string; stderr: string } => {
    const full = testbedNodeArgv(opts, String(node), argv);
    const r = spawnSync(full[0] as string, full.slice(1), { encoding: 'utf8', input, timeout: 120_000 });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const torqueBin = (name: string): string => join(tb.torquePrefix, 'bin', name);
  const virsh = async (i: number, args: readonly string[]): Promise<string> => {
    const nl = l.node(tb.nodes[i - 1] as never);
    return (await run('virsh', ['-c', `qemu:///system?socket=${nl.libvirtStateDir}/run/libvirt-sock`, ...args], { timeoutMs: 30_000 })).stdout;
  };
  const domains = async (i: number): Promise<string[]> => (await virsh(i, ['list', '--all', '--name'])).split('\n').map((s) => s.trim()).filter((s) => s.startsWith('vtq-'));

  const c: Cluster = {
    async open() {
      if (process.getuid?.() !== 0) throw new Error('the multi-node tier needs root');
      // Real Torque (../shared/torque's build for this machine; idempotent), as the torque tier installs it.
      const installed = spawnSync('bash', [join(TORQUE_DIR, 'install.sh')], { encoding: 'utf8', timeout: 40 * 60_000 });
      if (installed.status !== 0) throw new Error(`torque install.sh failed (${installed.status}): ${installed.stderr}${installed.stdout}`);
      // A run killed before its close(): take that testbed down first.
      await testbedDown(opts);
      if (spawnSync('id', ['-u', o.user]).status !== 0) spawnSync('useradd', ['--create-home', '--shell', '/bin/bash', o.user]);
      home = spawnSync('getent', ['passwd', o.user], { encoding: 'utf8' }).stdout.split(':')[5] as string;
      rmSync(work(), { recursive: true, force: true });
      mkdirSync(work(), { recursive: true, mode: 0o755 });
      const id = (flag: string): number => Number(spawnSync('id', [flag, o.user], { encoding: 'utf8' }).stdout.trim());
      chownSync(work(), id('-u'), id('-g'));
      const status = await testbedUp(opts);
      if (!status.ready) throw new Error(`testbed not ready: ${JSON.stringify(status)}`);
    },
    async close() {
      await testbedDown(opts);
      if (home !== '') rmSync(work(), { recursive: true, force: true });
    },
    node: (i) => (tb.nodes[i - 1] as { name: string }).name,
    nodeOfGuest(ip) {
      const n = tb.nodes.find((x) => ip.startsWith(`${x.guestSubnet}.`));
      return n?.name ?? `(no node's guest network: ${ip})`;
    },
    writeUserFile(name, text, mode) {
      const path = join(work(), name);
      writeFileSync(path, text, { mode });
      const st = spawnSync('stat', ['-c', '%u %g', work()], { encoding: 'utf8' }).stdout.trim().split(' ');
      chownSync(path, Number(st[0]), Number(st[1]));
      return path;
    },
    vsub(args) {
      // On the head, as the user, from his work directory (the shared /home).
      const inner = ['sh', '-c', 'cd "$1" && shift && exec "$@"', 'vsub', work(), join(l.installDir, 'bin', 'vsub'), ...args];
      const res = onNode(1, userArgvSync(inner));
      o.log(`vsub ${args.join(' ')} -> ${res.status}: ${res.stdout.trim()} ${res.stderr.trim()}`);
      if (res.status !== 0) throw new Error(`vsub ${args.join(' ')} failed (${res.status}): ${res.stderr}`);
      return res.stdout.trim().split('\n').pop() as string;
    },
    qdel(id) {
      const res = onNode(1, userArgvSync([torqueBin('qdel'), id]));
      o.log(`qdel ${id} -> ${res.status} ${res.stdout}${res.stderr}`);
    },
    job(id) {
      const r = onNode(1, [torqueBin('qstat'), '-f', id]);
      return r.status === 0 ? parseQstatF(r.stdout) : null;
    },
    async finished(id, what, timeoutMs) {
      const until = performance.now() + timeoutMs;
      let info: JobInfo | null = null;
      let lastState = '';
      while (performance.now() < until) {
        info = c.job(id);
        const state = `${info?.job_state ?? '?'} on ${info?.exec_host ?? '-'} (starts ${info?.start_count ?? 0})`;
        if (state !== lastState) o.log(`${what}: ${id} ${state}`);
        lastState = state;
        if (info?.job_state === 'C') break;
        await sleep(2000);
      }
      if (info?.job_state !== 'C') throw new Error(`job ${id} (${what}) not complete in ${timeoutMs} ms: ${JSON.stringify(info)}`);
      const file = (p: string | undefined): string => {
        const path = (p ?? '').replace(/^[^:]*:/, '');
        return path !== '' && existsSync(path) ? readFileSync(path, 'utf8') : '';
      };
      for (let i = 0; i < 20 && file(info.Output_Path) === ''; i++) await sleep(500);
      const out = file(info.Output_Path);
      const err = file(info.Error_Path);
      o.log(`${what}: ${id} exit_status ${info.exit_status}, start_count ${info.start_count}, exec_host ${info.exec_host}`);
      for (const line of out.split('\n').filter(Boolean)) o.log(`  .o| ${line}`);
      for (const line of err.split('\n').filter(Boolean)) o.log(`  .e| ${line}`);
      return { info, out, err };
    },
    async waitForDomains(node, count, timeoutMs) {
      const until = performance.now() + timeoutMs;
      while (performance.now() < until) {
        if ((await domains(node)).length >= count) return;
        await sleep(500);
      }
      throw new Error(`node ${c.node(node)} had no ${count} vtq- domain(s) within ${timeoutMs} ms`);
    },
    async nothingLeft(id) {
      const stem = id.split('.')[0] as string;
      for (let i = 1; i <= tb.nodes.length; i++) {
        const nl = l.node(tb.nodes[i - 1] as never);
        const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);
        const torqueFiles = (): string[] => ['mom_priv/jobs', 'spool', 'aux'].flatMap((d) => list(join(nl.torqueHome, d)).filter((f) => f.startsWith(`${stem}.`)).map((f) => `${d}/${f}`));
        for (let k = 0; k < 30 && torqueFiles().length > 0; k++) await sleep(500);
        const left = { domains: await domains(i), jobDirs: list(join(nl.spool, 'jobs')), records: list(join(nl.spool, 'records')), cancel: list(join(nl.spool, 'cancel')), torque: torqueFiles() };
        if (Object.values(left).some((v) => v.length > 0)) throw new Error(`job ${id} left on ${c.node(i)}: ${JSON.stringify(left)}`);
      }
      const states = onNode(1, [torqueBin('pbsnodes'), '-a']).stdout.match(/^\s+state = \S+/gm)?.map((x) => x.trim()) ?? [];
      if (states.length !== tb.nodes.length || states.some((st) => st !== 'state = free')) throw new Error(`after job ${id} the nodes are not all free: ${states.join(', ')}`);
    },
    async stopLibvirtd(node) {
      const n = tb.nodes[node - 1] as never;
      const pid = (await sandboxStatus({ name: c.node(node), stateDir: l.node(n).libvirtStateDir })).pids.libvirtd;
      if (pid === null) throw new Error(`libvirtd of ${c.node(node)} is not running`);
      o.log(`stopping libvirtd of ${c.node(node)} (pid ${pid}): ${await terminate(pid)}`);
    },
    async stopSshd(node) {
      const nl = l.node(tb.nodes[node - 1] as never);
      const pid = Number(readFileSync(nl.sshdPidFile, 'utf8').trim());
      o.log(`stopping sshd of ${c.node(node)} (pid ${pid}): ${await terminate(pid)}`);
    },
    async restore() {
      await testbedUp(opts);
    },
  };

  // setpriv argv for the job user, resolved once at first use (the user exists after open()).
  let userPrefix: string[] | null = null;
  function userArgvSync(argv: readonly string[]): string[] {
    if (userPrefix === null) throw new Error('cluster not open');
    return [...userPrefix, ...argv];
  }
  const open = c.open;
  c.open = async () => {
    await open();
    const probe = await asUserArgv(opts, o.user, ['__ARGV__']);
    userPrefix = probe.slice(0, probe.indexOf('__ARGV__'));
  };
  return c;
}
