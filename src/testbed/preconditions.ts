import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable } from '../core/exec/which.js';
import { TestbedError, type TestbedOp } from './errors.js';
import type { Testbed } from './options.js';

const TOOLS = [
  { file: 'ip', pkg: 'iproute2' }, { file: 'nsenter', pkg: 'util-linux' }, { file: 'unshare', pkg: 'util-linux' }, { file: 'setsid', pkg: 'util-linux' },
  { file: 'libvirtd', pkg: 'libvirt-daemon-system' }, { file: 'virsh', pkg: 'libvirt-clients' }, { file: 'sshd', pkg: 'openssh-server' },
  { file: 'ssh', pkg: 'openssh-client' }, { file: 'ssh-keygen', pkg: 'openssh-client' }, { file: 'setpriv', pkg: 'util-linux' },
] as const;

/** Root, the tools, and (for up) the Torque install; one line naming what is missing and how to get it. */
export function requireTestbedTools(tb: Testbed, op: TestbedOp): void {
  if (process.getuid?.() !== 0) throw new TestbedError(op, 'PERMISSION', 'the testbed makes namespaces and runs root daemons: run it as root', { fault: 'job' });
  const missing = TOOLS.filter((t) => findExecutable(t.file) === null);
  if (missing.length > 0) {
    throw new TestbedError(op, 'NOT_SUPPORTED', `missing ${missing.map((t) => t.file).join(', ')}; install with apt-get install ${[...new Set(missing.map((t) => t.pkg))].join(' ')}`, { fault: 'node' });
  }
  if (op !== 'up') return;
  if (tb.scheduler === 'slurm') {
    const slurm = ['/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/sbin/munged', '/usr/bin/sbatch', '/usr/bin/scontrol'].filter((f) => !existsSync(f));
    if (slurm.length > 0) throw new TestbedError(op, 'NOT_SUPPORTED', `Slurm is not installed (missing ${slurm.join(', ')}); install it with apt-get install slurmctld slurmd slurm-client munge`, { fault: 'node' });
    return;
  }
  const torque = ['sbin/pbs_server', 'sbin/pbs_mom', 'sbin/pbs_sched', 'sbin/trqauthd', 'bin/qmgr', 'bin/qsub', 'bin/pbsnodes'].filter((f) => !existsSync(join(tb.torquePrefix, f)));
  if (torque.length > 0) {
    throw new TestbedError(op, 'NOT_SUPPORTED', `Torque is not installed at ${tb.torquePrefix} (missing ${torque.join(', ')}); install it (../shared/torque/install.sh) or pass --torque-prefix`, { fault: 'node' });
  }
}
