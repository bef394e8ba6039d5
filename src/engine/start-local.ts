import { VtorqueError } from '../core/errors.js';
import type { EngineContext } from './context.js';
import { startOnNodes, type StartedOnNodes, type StartInput } from './head/index.js';
import { localNode, type LocalNodeOptions } from './node/index.js';
import type { PreparedJob } from './prepare/index.js';
import type { NodeState } from './types.js';

export interface LocalStartInput extends StartInput {
  /**
   * This host as the job's one node: its state as data, or its name and how to observe it under
   * the node lock (two jobs starting at once then never plan against the same free CPUs and MACs).
   */
  readonly nodes: readonly NodeState[] | { readonly name: string; readonly observe: () => Promise<NodeState> };
}

export interface StartedJob extends StartedOnNodes {
  /** What this host's prepare made (files, keys, qemu identity). */
  readonly prepared: PreparedJob;
}

/** A job whose only node is this host: the head's start over localNode. */
export async function startJobVms(input: LocalStartInput, ctx: EngineContext): Promise<StartedJob> {
  const given = input.nodes;
  let node: LocalNodeOptions;
  if (Array.isArray(given)) {
    const state = (given as readonly NodeState[])[0];
    if (state === undefined || given.length !== 1) throw new VtorqueError('INTERNAL', `a start on this host takes one node, not ${given.length}`, { fault: 'node' });
    node = { name: state.name, observe: async () => state };
  } else node = given as { readonly name: string; readonly observe: () => Promise<NodeState> };
  let prepared: PreparedJob | undefined;
  const started = await startOnNodes(input, [localNode(ctx, { ...node, onPrepared: (p) => (prepared = p) })], { config: ctx.config, log: ctx.log, ...(ctx.progress ? { progress: ctx.progress } : {}) });
  return { ...started, prepared: prepared as PreparedJob };
}
