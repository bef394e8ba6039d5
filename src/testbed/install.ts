import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { run } from '../core/exec/run.js';
import { TestbedError } from './errors.js';
import type { NodeLayout, TestbedLayout } from './layout.js';
import { inNode } from './node-ns.js';
import type { Testbed } from './options.js';
import { sshArgv } from './sshd.js';
import { TESTBED_PROLOGALARM } from './torque.js';

/**
 * A node's vTorque config, as a site would write it for a node: the node's own spool, logs and
 * libvirt (qemu:///system is the node's libvirtd inside its mount namespace), the shared pool,
 * TCG guests on the node's routed network, and the agent channel over the testbed's ssh key.
 * Built as data and dumped (never concatenated).
 */
export function nodeConfig(tb: Testbed, nl: NodeLayout, l: TestbedLayout): Record<string, unknown> {
  const qsub = join(tb.torquePrefix, 'bin', 'qsub');
  return {
    TORQUE_HOME: tb.torqueHome,
    SPOOL_DIR: nl.spool,
    LOG_DIR: nl.logDir,
    RAMDISK_DIR: nl.ramdisk,
    VM_IMG_DIR: l.poolDir,
    LIBVIRT_URI: 'qemu:///system',
    VM_NETWORK: tb.vmNetwork.name,
    HYPERVISOR: 'qemu',
    VCPUS_DEFAULT: 1,
    RAM_DEFAULT: '768M',
    // The nodes share this host's cores: none is kept back, or two 1-vCPU VMs would not fit a 2-core node.
    HOST_OS_CORE_COUNT: 0,
    HOST_OS_RAM_MB: 512,
    TIMEOUT: 600,
    PROLOGUE_TIMEOUT: TESTBED_PROLOGALARM - 100,
    PBS_QSUB_ON_FE: qsub,
    PBS_QSUB_ON_NODES: qsub,
    NODE_AGENT_COMMAND: [...sshArgv(l), 'root@{node}', '{node_binary}', '{vtorque}', 'node-agent', '--name', '{node}'],
  };
}

/** Write the node's config (inside its own install directory) and run `vtorque setup` inside the node, once. */
export async function installOnNode(tb: Testbed, nl: NodeLayout, l: TestbedLayout, holder: number, nodeName: string): Promise<'installed' | 'present'> {
  const etc = join(nl.install, 'etc');
  mkdirSync(etc, { recursive: true, mode: 0o755 });
  writeFileSync(join(etc, 'config.yaml'), yaml.dump(nodeConfig(tb, nl, l)), { mode: 0o644 });
  if (existsSync(join(nl.install, 'lib', 'vtorque', 'install-manifest.json'))) return 'present';
  if (tb.sourceRoot === null) throw new TestbedError('up', 'USAGE', 'no vTorque source tree to install from (sourceRoot)', { fault: 'job' });
  const scheduler = tb.scheduler === 'slurm' ? ['--slurm'] : ['--mom-priv', join(tb.torqueHome, 'mom_priv')];
  const argv = inNode(holder, [
    process.execPath, join(tb.sourceRoot, 'dist', 'vtorque.mjs'), 'setup',
    '--prefix', l.installDir, ...scheduler, '--config', l.configPath, '--profile-dir', l.profileDir,
  ]);
  const r = await run(argv[0] as string, argv.slice(1), { timeoutMs: 120_000, reject: false });
  if (r.exitCode !== 0) throw new TestbedError('up', 'COMMAND_FAILED', `vtorque setup on ${nodeName} failed (${r.exitCode}): ${(r.stderr || r.stdout).trim().slice(0, 400)}`, { fault: 'node' });
  return 'installed';
}
