import type { Argv } from 'yargs';
import { lstatSync } from 'node:fs';
import { basename, join } from 'node:path';
import { addImage } from '../../admin/pool/manage.js';
import { imageUseHere } from '../vmgr/domains.js';
import { loadConfig } from '../../core/config/index.js';
import { buildImage } from '../../image/index.js';
import { formatSandboxStatus, sandboxDown, sandboxStatus, sandboxUp, type SandboxOptions } from '../../sandbox/index.js';
import { withExamples } from './examples.js';

const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** `vtorque sandbox up|down|status`: libvirtd + an isolated network inside a network namespace. */
export function sandboxCommand<T>(y: Argv<T>) {
  const options = y
    .positional('action', { choices: ['up', 'down', 'status'] as const, demandOption: true })
    .option('name', { type: 'string', describe: 'network namespace name (default vtq)' })
    .option('state-dir', { type: 'string', describe: 'state directory (default /var/lib/vtorque/sandbox/<name>)' })
    .option('delete-netns', { type: 'boolean', default: false, describe: 'down: also delete the namespace' });
  return withExamples(options, [
    ['vtorque sandbox up', 'libvirtd and an isolated network in netns vtq (as root)'],
    ['vtorque sandbox status', 'what runs, and the LIBVIRT_URI and HYPERVISOR to put in a config'],
    ['vtorque sandbox down --delete-netns', 'end what up started, by PID, and delete the namespace too'],
  ]);
}

export async function runSandboxCommand(a: { action: 'up' | 'down' | 'status'; name?: string | undefined; 'state-dir'?: string | undefined; 'delete-netns': boolean }): Promise<number> {
  const opts: SandboxOptions = { ...(a.name ? { name: a.name } : {}), ...(a['state-dir'] ? { stateDir: a['state-dir'] } : {}), log: say };
  const status = a.action === 'up' ? await sandboxUp(opts) : a.action === 'down' ? await sandboxDown({ ...opts, deleteNetns: a['delete-netns'] }) : await sandboxStatus(opts);
  for (const line of formatSandboxStatus(status)) process.stdout.write(`${line}\n`);
  return 0;
}

/** `vtorque image build [--out DIR]`: the Debian bookworm guest image, rebuilt only when its inputs change. */
export function imageCommand<T>(y: Argv<T>) {
  const options = y
    .positional('action', { choices: ['build'] as const, demandOption: true })
    .option('out', { type: 'string', default: '/var/cache/vtorque/image', describe: 'output directory' })
    .option('force', { type: 'boolean', default: false, describe: 'rebuild even when the inputs are unchanged' })
    .option('register', { type: 'boolean', default: false, describe: 'add it to the image pool (VM_IMG_DIR) as vmgr add does' })
    .option('config', { type: 'string', describe: 'site config for --register' });
  return withExamples(options, [
    ['vtorque image build', 'debian-12-x86_64.qcow2 in /var/cache/vtorque/image (as root; cached)'],
    ['vtorque image build --register', "and add it to the site's image pool (VM_IMG_DIR), as vmgr add does"],
    ['vtorque image build --force --out /srv/vtorque/image', 'rebuild even though its inputs are unchanged, into another directory'],
  ]);
}

export async function runImageCommand(a: { out: string; force: boolean; register: boolean; config?: string | undefined }): Promise<number> {
  const r = await buildImage({ outDir: a.out, cacheDir: '/var/cache/vtorque', log: say, force: a.force });
  process.stdout.write(`${r.cached ? 'up to date' : `built in ${Math.round(r.durationMs / 1000)} s`}: ${Object.values(r.artifacts).join(' ')}\n`);
  if (a.register) {
    const { config } = loadConfig({ path: a.config, env: process.env });
    const description = `Debian 12 (bookworm) x86_64, cloud-init NoCloud, built by vtorque image build (inputs ${r.inputsHash.slice(0, 12)})`;
    const name = basename(r.artifacts.qcow2);
    // Registering again replaces the pool's copy (refused while a job on this node uses it).
    const replace = lstatSync(join(config.VM_IMG_DIR, name), { throwIfNoEntry: false }) ? await imageUseHere(config, name, { root: true }) : undefined;
    for (const path of addImage(config.VM_IMG_DIR, r.artifacts.qcow2, description, name, replace ? { replace } : {})) process.stdout.write(`registered ${path}\n`);
  }
  return 0;
}
