import pLimit from 'p-limit';
import type { SiteConfig } from '../core/config/index.js';
import type { AppLayout } from '../core/install/paths.js';
import { withDeadline, type EngineLog } from '../engine/index.js';
import { reason } from './classify.js';
import { agentConnector } from './sisters.js';

/** How reaching one node's agent went, for `vtorque doctor --nodes`. */
export type AgentProbe =
  | { readonly node: string; readonly reached: true; readonly domainType: string; readonly calledItself: string | null }
  | { readonly node: string; readonly reached: false; readonly error: string; readonly hint: string | null };

/** Nodes probed at once. */
const PROBE_FAN_OUT = 16;

/**
 * Start each node's agent the way the head of a multi-node job does (NODE_AGENT_COMMAND), say
 * hello and end the session: nothing is reserved or changed there. Each node gets at most
 * `timeoutMs` in all; a failure comes with what it most likely means (from ssh's and the agent's
 * own words).
 */
export async function probeNodeAgents(c: SiteConfig, layout: AppLayout, names: readonly string[], timeoutMs: number): Promise<AgentProbe[]> {
  // connectNode only logs an agent that calls its node by another name; the head refuses such a node at its reservation.
  const calledItself = new Map<string, string>();
  const log: EngineLog = {
    info: () => undefined,
    warn: (fields) => {
      if (typeof fields.node === 'string' && typeof fields.agentName === 'string') calledItself.set(fields.node, fields.agentName);
    },
  };
  const connect = agentConnector(c, layout, log, timeoutMs);
  const limit = pLimit(PROBE_FAN_OUT);
  return Promise.all(
    names.map((node) =>
      limit(async (): Promise<AgentProbe> => {
        const hello = (async () => {
          const agent = await connect(node);
          try {
            return agent.domainType;
          } finally {
            await agent.close();
          }
        })();
        try {
          const domainType = await withDeadline(hello, timeoutMs, `node ${node}: its node agent`);
          return { node, reached: true, domainType, calledItself: calledItself.get(node) ?? null };
        } catch (err) {
          const error = reason(err);
          return { node, reached: false, error, hint: agentHint(error, node, c.NODE_AGENT_COMMAND[0] ?? '') };
        }
      }),
    ),
  );
}

/** What a failure to reach a node's agent most likely means, and its fix; null when nothing is recognised. */
export function agentHint(error: string, node: string, program: string): string | null {
  const rules: readonly [RegExp, string][] = [
    [/cannot start its node agent/, `${program} (NODE_AGENT_COMMAND's program) cannot be started on this node: install it or set NODE_AGENT_COMMAND to a command that exists here`],
    [/Host key verification failed|host key is not known|No \S+ host key is known|REMOTE HOST IDENTIFICATION HAS CHANGED/i, `${node}'s ssh host key is unknown here (or changed): check its fingerprint, then add it to root's known_hosts on this node (ssh-keyscan ${node})`],
    [/Permission denied \(|Too many authentication failures/i, `root's ssh key is refused by ${node}: add this node's root public key to root's authorized_keys on ${node}`],
    [/Could not resolve hostname|Name or service not known|Temporary failure in name resolution/i, `${node} does not resolve: the scheduler's node names must be host names this node can reach`],
    [/Connection refused|Connection timed out|No route to host|Network is unreachable|Connection closed by/i, `${node} does not accept ssh from this node (refused, timed out or no route)`],
    [/No such file or directory|command not found|: not found|Cannot find module|exit 12[67]\b/i, `vTorque is not installed at the same path on ${node}: every node needs the same node binary and install prefix ({node_binary}, {vtorque} of NODE_AGENT_COMMAND)`],
    [/out of contract|is not node-ops v/i, `the agent on ${node} does not speak this vTorque's node-ops: install the same vTorque version on ${node}`],
    [/no answer/i, `the agent on ${node} did not answer in time: check that ${node} is up and NODE_AGENT_COMMAND reaches it`],
  ];
  return rules.find(([re]) => re.test(error))?.[1] ?? null;
}
