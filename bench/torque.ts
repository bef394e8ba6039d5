import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSetup } from '../src/admin/setup/index.js';
import { torqueHooks } from '../src/torque/install/index.js';
import { REPO } from '../test/helpers/site.js';
import { QSUB, realTorque, TORQUE_HOME } from '../test/torque/real-torque.js';
import { emit, median } from './stats.js';

/**
 * T1_real_torque_passthrough_added_ms: what vTorque's installed prologue + epilogue add to a plain
 * job under the real pbs_mom 6.1.3 (its fork, environment, umask, session), not our emulation.
 * mom_priv's prologue and epilogue are timing wrappers that run either our installed fronts or
 * empty `sh` hooks, alternating job by job; the wrapper's own cost is the same both ways.
 */
export async function benchTorque(jobsEachWay = 12): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench torque needs root (it runs the Torque daemons)');
  const log = (line: string): void => void process.stderr.write(`[bench torque] ${line}\n`);
  const torque = realTorque('vtqbench', log);
  const root = '/var/tmp/vtorque-bench-torque';
  const momPriv = join(TORQUE_HOME, 'mom_priv');
  const user = 'vtqe2e';
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'empty'), { recursive: true, mode: 0o755 });
  if (spawnSync('id', ['-u', user]).status !== 0) spawnSync('useradd', ['--create-home', '--shell', '/bin/bash', user]);
  const home = spawnSync('getent', ['passwd', user], { encoding: 'utf8' }).stdout.split(':')[5] as string;
  torque.install();
  const setup = { prefix: join(root, 'prefix'), momPriv, uninstall: false, dryRun: false, configPath: join(root, 'config.yaml'), profileDir: join(root, 'profile.d'), sourceRoot: REPO, nodePath: process.execPath, torqueHome: TORQUE_HOME, spoolDir: join(root, 'spool') };
  await runSetup(setup, () => undefined, torqueHooks);
  const installed = new Map<string, string>();
  try {
    for (const hook of ['prologue', 'epilogue']) {
      const empty = join(root, 'empty', hook);
      writeFileSync(empty, '#!/bin/sh\nexit 0\n', { mode: 0o700 });
      // setup linked mom_priv/<hook> to our front: keep the link's target, put the wrapper there.
      const link = join(momPriv, hook);
      installed.set(hook, readlinkSync(link));
      rmSync(link);
      writeFileSync(link, wrapper(hook, join(root, 'mode'), installed.get(hook) as string, empty, join(root, 'times')), { mode: 0o700 });
      chmodSync(link, 0o700);
    }
    torque.up(300);
    const run = (mode: 'vtorque' | 'empty'): number => {
      writeFileSync(join(root, 'mode'), `${mode}\n`);
      rmSync(join(root, 'times'), { force: true });
      const sub = torque.asUser(user, [QSUB, '-N', 'tbench', '-o', '/dev/null', '-e', '/dev/null'], { cwd: home, stdin: 'true\n' });
      const id = sub.stdout.trim();
      if (id === '') throw new Error(`qsub failed (${sub.status}): ${sub.stderr}`);
      return waitTimes(id);
    };
    const waitTimes = (id: string): number => {
      for (let i = 0; i < 600; i++) {
        const text = existsSync(join(root, 'times')) ? readFileSync(join(root, 'times'), 'utf8') : '';
        const lines = text.split('\n').filter(Boolean);
        if (lines.some((l) => l.startsWith('epilogue '))) return lines.reduce((sum, l) => sum + Number(l.split(' ')[1]) / 1e6, 0);
        spawnSync('sleep', ['0.05']);
      }
      throw new Error(`job ${id}: no hook timings after 30 s`);
    };
    for (let i = 0; i < 2; i++) run('vtorque');
    const vt: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < jobsEachWay; i++) {
      base.push(run('empty'));
      vt.push(run('vtorque'));
    }
    emit('T1_real_torque_passthrough_added_ms', median(vt) - median(base), 'ms', { target: 5, jobs_each_way: jobsEachWay, vtorque_hooks_ms: median(vt), empty_sh_hooks_ms: median(base) });
  } finally {
    try {
      torque.down();
    } finally {
      for (const [hook, target] of installed) {
        const link = join(momPriv, hook);
        if (existsSync(link) && !lstatSync(link).isSymbolicLink()) rmSync(link);
        if (!existsSync(link)) symlinkSync(target, link);
      }
      await runSetup({ ...setup, uninstall: true }, () => undefined, torqueHooks);
      rmSync(root, { recursive: true, force: true });
      spawnSync('ip', ['netns', 'del', 'vtqbench']);
    }
  }
}

/** The hook pbs_mom runs while timing: our front or the empty one, by the mode file; ns per run appended to `times`. */
function wrapper(hook: string, modeFile: string, front: string, empty: string, times: string): string {
  return `#!/bin/sh
t0=$(date +%s%N)
case $(cat '${modeFile}') in
  vtorque) '${front}' "$@" ;;
  *) '${empty}' "$@" ;;
esac
rc=$?
t1=$(date +%s%N)
echo "${hook} $((t1 - t0))" >> '${times}'
exit $rc
`;
}
