/** Torque resource lists (`-l nodes=2:ppn=4,mem=8gb,walltime=1:00:00`), parsed and merged as qsub does. */
export type ResourceList = Map<string, string>;

/** `a=1,b=2` → entries in order; a key without `=` maps to "" (Torque keeps bare resources). */
export function parseResourceList(text: string): ResourceList {
  const list: ResourceList = new Map();
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) list.set(part.trim(), '');
    else list.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return list;
}

/** qsub merges -l per resource key: script directives first, then the command line, last wins. */
export function mergeResourceLists(lists: readonly string[]): ResourceList {
  const merged: ResourceList = new Map();
  for (const text of lists) for (const [k, v] of parseResourceList(text)) merged.set(k, v);
  return merged;
}
