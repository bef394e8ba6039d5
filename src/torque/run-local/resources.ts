import { VtorqueError } from '../../core/errors.js';

/** The resource facts pbs_mom derives for a single-node job (argv[5]/[6] and the PBS_* counts). */
export interface JobResources {
  /** Resource_List as the hooks get it: `nodes=1:ppn=2,neednodes=1:ppn=2,walltime=01:00:00`. */
  readonly text: string;
  /** The raw -l nodes= value (PBS_RESOURCE_NODES); null when the job asked for procs only. */
  readonly nodes: string | null;
  readonly ppn: number;
  readonly np: number;
  readonly walltimeSec: number | null;
}

/**
 * Resolve a merged -l list the way pbs_server fills Resource_List: a job without nodes/procs gets
 * the default `nodes=1`, `neednodes` follows `nodes`, walltime is normalised to HH:MM:SS. A
 * `walltimeOverride` (run-local --walltime) replaces the requested walltime. Multi-node refused.
 */
export function resolveResources(requested: ReadonlyMap<string, string>, walltimeOverride?: number): JobResources {
  const list = new Map(requested);
  list.delete('neednodes');
  if (walltimeOverride !== undefined) list.set('walltime', '');
  let walltimeSec: number | null = walltimeOverride ?? null;
  const wt = requested.get('walltime');
  if (walltimeOverride === undefined && wt !== undefined) {
    walltimeSec = parseDuration(wt);
    if (walltimeSec === null) throw new VtorqueError('USAGE', `walltime=${wt}: expected seconds or [[HH:]MM:]SS`, { fault: 'job' });
  }
  if (walltimeSec !== null) list.set('walltime', formatHms(walltimeSec));

  const procs = list.get('procs');
  let nodes = list.get('nodes') ?? null;
  if (nodes === null && procs === undefined) {
    nodes = '1';
    list.set('nodes', nodes);
  }
  let ppn: number;
  if (nodes !== null) {
    ppn = singleNodePpn(nodes);
  } else {
    ppn = Number(procs);
    if (!Number.isInteger(ppn) || ppn < 1) throw new VtorqueError('USAGE', `procs=${procs}: expected a positive integer`, { fault: 'job' });
  }

  const entries: string[] = [];
  for (const [k, v] of list) {
    entries.push(v === '' ? k : `${k}=${v}`);
    if (k === 'nodes') entries.push(`neednodes=${v}`);
  }
  return { text: entries.join(','), nodes, ppn, np: ppn, walltimeSec };
}

/** `1`, `1:ppn=4`, `host:ppn=2:gpus=1` → ppn; `2`, `a+b` and `2:ppn=1` are multi-node and refused. */
export function singleNodePpn(nodes: string): number {
  const specs = nodes.split('+');
  const parts = (specs[0] as string).split(':');
  const head = parts[0] as string;
  const count = /^\d+$/.test(head) ? Number(head) : 1;
  if (specs.length > 1 || count !== 1) {
    throw new VtorqueError('NOT_SUPPORTED', `nodes=${nodes} asks for more than one node; run-local runs single-node jobs only (the *.parallel hooks need sister moms)`, { fault: 'job' });
  }
  const ppnPart = parts.slice(1).find((p) => p.startsWith('ppn='));
  if (ppnPart === undefined) return 1;
  const ppn = Number(ppnPart.slice(4));
  if (!Number.isInteger(ppn) || ppn < 1) throw new VtorqueError('USAGE', `nodes=${nodes}: ppn must be a positive integer`, { fault: 'job' });
  return ppn;
}

/** Torque durations: plain seconds or [[HH:]MM:]SS (each part an integer). */
export function parseDuration(text: string): number | null {
  const parts = text.trim().split(':');
  if (parts.length > 3 || parts.some((p) => !/^\d+$/.test(p))) return null;
  return parts.reduce((sum, p) => sum * 60 + Number(p), 0);
}

export function formatHms(totalSec: number): string {
  const s = Math.max(0, Math.floor(totalSec));
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

/** resources_used as the epilogue gets it (argv[7]); only walltime is measured here. */
export function resourcesUsed(walltimeSec: number): string {
  return `cput=00:00:00,vmem=0kb,walltime=${formatHms(walltimeSec)},mem=0kb,energy_used=0`;
}
