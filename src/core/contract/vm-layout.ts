/**
 * How a job's VMs lie over its host nodes, as the guest sees it: the job's node count and rank
 * layout in vTorque's own variables, set by the host side in the seed's job environment and again
 * by the runner when it replaces that file (so they are the same whichever wrote it last).
 */

/** One host node of the job and how many of its VMs run there, in rank order. */
export interface HostVms {
  readonly name: string;
  readonly vms: number;
}

export type VmLayoutEnv = Readonly<Record<'VTORQUE_NUM_HOSTS' | 'VTORQUE_NUM_VMS' | 'VTORQUE_VM_LAYOUT', string>>;

/**
 * `VTORQUE_NUM_HOSTS` (host nodes of the job), `VTORQUE_NUM_VMS` (its VMs) and `VTORQUE_VM_LAYOUT`
 * (`host:VMs` runs in rank order, comma-separated: `n1:2,n2:2` is ranks 0-1 on n1, 2-3 on n2).
 */
export function vmLayoutEnv(hosts: readonly HostVms[]): VmLayoutEnv {
  return {
    VTORQUE_NUM_HOSTS: String(new Set(hosts.map((h) => h.name)).size),
    VTORQUE_NUM_VMS: String(hosts.reduce((n, h) => n + h.vms, 0)),
    VTORQUE_VM_LAYOUT: hosts.map((h) => `${h.name}:${h.vms}`).join(','),
  };
}

/** The runs of consecutive ranks on one host, from VM records (any order; sorted by rank here). */
export function hostsOfVms(vms: readonly { readonly node: string; readonly rank: number }[]): HostVms[] {
  const runs: { name: string; vms: number }[] = [];
  for (const vm of [...vms].sort((a, b) => a.rank - b.rank)) {
    const last = runs.at(-1);
    if (last?.name === vm.node) last.vms++;
    else runs.push({ name: vm.node, vms: 1 });
  }
  return runs;
}
