import { join } from 'node:path';
import { run } from '../core/exec/run.js';
import { TestbedError } from './errors.js';
import type { TestbedLayout } from './layout.js';
import { inNode } from './node-ns.js';
import type { Testbed } from './options.js';
import { sshArgv } from './sshd.js';

/**
 * From the head, over the very ssh the head's NODE_AGENT_COMMAND uses: every other node accepts
 * the key, presents the host key known_hosts pins, and has the node binary and vTorque's bundle
 * at the head's paths (a site must give every node the same install path).
 */
export async function checkAgentChannel(tb: Testbed, l: TestbedLayout, headHolder: number): Promise<string[]> {
  const bundle = join(l.installDir, 'lib', 'vtorque', 'dist', 'vtorque.mjs');
  const lines: string[] = [];
  for (const node of tb.nodes.slice(1)) {
    const argv = inNode(headHolder, [...sshArgv(l), `root@${node.name}`, 'test', '-x', process.execPath, '-a', '-f', bundle, '&&', 'hostname']);
    const r = await run(argv[0] as string, argv.slice(1), { timeoutMs: 30_000, reject: false });
    if (r.exitCode !== 0 || r.stdout.trim() !== node.name) {
      throw new TestbedError('up', 'COMMAND_FAILED', `the head cannot reach node ${node.name}'s agent over ssh (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().slice(0, 300)}`, { fault: 'node' });
    }
    lines.push(`agent channel ${tb.nodes[0]?.name} -> ${node.name}: ssh as root with the testbed key, ${process.execPath} and ${bundle} present`);
  }
  return lines;
}
