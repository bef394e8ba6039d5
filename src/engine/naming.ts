/** Characters libvirt names, hostnames and file names all accept. */
function sanitize(text: string, max: number): string {
  const clean = text.replace(/[^A-Za-z0-9.-]+/g, '_').replace(/^[._-]+/, '');
  return clean.slice(0, max) || 'x';
}

/** `vtq-<jobid>-<node>-<n>`: the prefix teardown matches (together with our metadata element). */
export function domainName(jobId: string, node: string, index: number): string {
  return `${domainPrefix(jobId)}${sanitize(node.split('.')[0] ?? node, 40)}-${index}`;
}

export function domainPrefix(jobId: string): string {
  return `vtq-${sanitize(jobId, 80)}-`;
}

/** Guest hostname `v<node>-<n>`, as the original named them; a valid DNS label. */
export function guestHostname(node: string, index: number): string {
  const label = (node.split('.')[0] ?? node).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return `v${label.slice(0, 55) || 'node'}-${index}`;
}

export { jobDirName } from '../core/contract/job-state.v1.js';
