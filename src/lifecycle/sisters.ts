import pLimit from 'p-limit';
import type { SiteConfig } from '../core/config/index.js';
import { VtorqueError } from '../core/errors.js';
import type { AppLayout } from '../core/install/paths.js';
import { connectNode, type EngineLog, type RemoteNode } from '../engine/index.js';
import { reason } from './classify.js';

/** How the head reaches another node of the job: its node agent. Tests give their own. */
export type ConnectNode = (name: string) => Promise<RemoteNode>;

/** A node name as schedulers spell hosts: what may go into the agent command (ssh joins it into a remote command line). */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
/** Sister nodes connected to at once. */
const CONNECT_FAN_OUT = 16;

/**
 * The site's way: NODE_AGENT_COMMAND with {node}, {node_binary} and {vtorque} filled in, element by
 * element. Each answer is awaited at most `callTimeoutMs` (default TIMEOUT).
 */
export function agentConnector(c: SiteConfig, layout: AppLayout, log: EngineLog, callTimeoutMs = c.TIMEOUT * 1000): ConnectNode {
  return (name) => {
    if (!NODE_NAME.test(name)) return Promise.reject(new VtorqueError('USAGE', `node name ${JSON.stringify(name)} from the scheduler is not a host name (letters, digits, . _ -): it cannot be reached`, { fault: 'node' }));
    const fill = (arg: string): string => arg.replaceAll('{node}', name).replaceAll('{node_binary}', process.execPath).replaceAll('{vtorque}', layout.vtorqueBundle);
    return connectNode({ name, argv: c.NODE_AGENT_COMMAND.map(fill), callTimeoutMs, log });
  };
}

/**
 * Connect to every named node (bounded fan-out). All or none: when one cannot be reached, those
 * reached are closed again and the start fails naming every node that could not be (the node's fault).
 */
export async function connectSisters(names: readonly string[], connect: ConnectNode): Promise<RemoteNode[]> {
  const limit = pLimit(CONNECT_FAN_OUT);
  const results = await Promise.allSettled(names.map((n) => limit(() => connect(n))));
  const reached = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${names[i]}: ${reason(r.reason)}`] : []));
  if (failed.length > 0) {
    await closeAll(reached);
    throw new VtorqueError('COMMAND_FAILED', `cannot reach ${failed.length} node(s) of the job: ${failed.join('; ')}`, { fault: 'node' });
  }
  return reached;
}

export async function closeAll(nodes: readonly RemoteNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.close().catch(() => undefined)));
}

/**
 * Tear down the job's VMs on each named node through its agent (bounded, in parallel). Returns the
 * domains torn down there and what could not be done, one line per node; what is left there the
 * node's own gc reaps.
 */
export async function stopOnSisters(jobId: string, names: readonly string[], keepLogs: boolean, connect: ConnectNode): Promise<{ domains: string[]; problems: string[] }> {
  const limit = pLimit(CONNECT_FAN_OUT);
  const results = await Promise.all(
    names.map((name) =>
      limit(async (): Promise<{ domains: readonly string[]; problem: string | null }> => {
        let node: RemoteNode | undefined;
        try {
          node = await connect(name);
          return { domains: (await node.stopVms(jobId, { keepLogs })).domains, problem: null };
        } catch (err) {
          return { domains: [], problem: `node ${name}: ${reason(err)}` };
        } finally {
          await node?.close().catch(() => undefined);
        }
      }),
    ),
  );
  return { domains: results.flatMap((r) => r.domains), problems: results.flatMap((r) => (r.problem === null ? [] : [r.problem])) };
}
