import { createHash } from 'node:crypto';

/**
 * `MAC_PREFIX` + 3 bytes derived from job, node and VM index: stable across a retried prologue,
 * different between jobs. On a clash with a MAC already on the node the next derivation is tried.
 */
export function deriveMac(prefix: string, jobId: string, node: string, index: number, used: ReadonlySet<string>): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const digest = createHash('sha256').update(`${jobId}\0${node}\0${index}\0${attempt}`).digest();
    const mac = `${prefix.toLowerCase()}:${[...digest.subarray(0, 3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    if (!used.has(mac)) return mac;
  }
  throw new Error(`no free MAC under ${prefix} after 1000 attempts`);
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** Validate a MAC from the admin's IP_TO_MAC_SCRIPT: unicast, in canonical lower-case form. */
export function normaliseMac(text: string): string | undefined {
  const mac = text.trim().toLowerCase().replace(/-/g, ':');
  if (!MAC.test(mac)) return undefined;
  return parseInt(mac.slice(0, 2), 16) & 1 ? undefined : mac;
}
