import type { SiteConfig } from '../core/config/index.js';
import { VtorqueError } from '../core/errors.js';
import { run } from '../core/exec/run.js';
import { normaliseMac } from './mac.js';

/**
 * CUSTOM_IP_MAPPING: ask the admin's IP_TO_MAC_SCRIPT for every VM's MAC (argv: node, VMs per node,
 * VM number on the node; it prints one MAC), validated as a unicast MAC. Run per target node, not
 * with the mother superior's name (the original's bug).
 */
export async function customMacs(c: SiteConfig, nodes: readonly string[], vmsPerNode: number): Promise<(node: string, index: number) => string> {
  const macs = new Map<string, string>();
  for (const node of nodes) {
    for (let index = 1; index <= vmsPerNode; index++) {
      const r = await run(c.IP_TO_MAC_SCRIPT, [node, String(vmsPerNode), String(index)], { timeoutMs: c.TIMEOUT * 1000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).catch((err: unknown) => {
        throw new VtorqueError('COMMAND_FAILED', `IP_TO_MAC_SCRIPT failed for node ${node} VM ${index}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, exitCode: 2, fault: 'node' });
      });
      const mac = normaliseMac(r.stdout.trim().split('\n').pop() ?? '');
      if (!mac) throw new VtorqueError('CONFIG_INVALID', `IP_TO_MAC_SCRIPT printed ${JSON.stringify(r.stdout.trim().slice(0, 60))} for node ${node} VM ${index}: expected one unicast MAC like 52:54:00:12:34:56`, { exitCode: 2, fault: 'node' });
      macs.set(`${node}\0${index}`, mac);
    }
  }
  return (node, index) => macs.get(`${node}\0${index}`) as string;
}
