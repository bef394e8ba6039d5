import { lstatSync } from 'node:fs';
import { basename, join } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { addImage, deleteImage, requireRoot, updateImage } from '../../admin/pool/manage.js';
import { readImageMeta } from '../../admin/pool/meta.js';
import type { DomainSource, ImageUse } from '../../admin/pool/usage.js';
import { describeImage, describeImages, formatImageDetail, formatImageTable } from '../../admin/pool/view.js';
import { CONFIG_FIELDS, PUBLIC_KEY_PATTERN, loadConfig, type ConfigKey, type SiteConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { IMAGE_NAME } from '../../core/request/index.js';
import { withExamples, type Example } from '../vtorque/examples.js';
import { imageUseHere, libvirtDomains } from './domains.js';

/** What vmgr's commands act through (the process's own in main.ts; a test's in tests). */
export interface VmgrIo {
  readonly out: (text: string) => void;
  /** Effective uid: 0 sees and may change everything, anyone else may look at what users may see. */
  readonly euid: number | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** The domains of this node (default: libvirt at LIBVIRT_URI). */
  readonly domains?: (config: SiteConfig) => DomainSource;
}

/** What vmgr --help says after its examples. */
export const VMGR_EPILOG = `Only root changes the pool; anyone may look. Pool images are regular files
directly in VM_IMG_DIR named *.img, *.qcow2 or *.raw, with <image>.info (the
description), <image>.meta.json (what vmgr add recorded) and <image>.vmlinuz,
.initrd, .cmdline (direct kernel boot) beside them.`;

const EXAMPLES: Readonly<Record<'top' | 'show' | 'add' | 'update' | 'delete', readonly Example[]>> = {
  top: [
    ['vmgr show images', 'every pool image: format, sizes, backing file, sha256, description'],
    ['vmgr show image debian-12-x86_64.qcow2', 'one image, its boot files and the jobs on this node using it now'],
    ['sudo vmgr add /srv/images/rocky-9.qcow2 "Rocky Linux 9"', 'copy an image in (root:root 0444, sha256 recorded while copying)'],
    ['sudo vmgr delete image rocky-9.qcow2', 'remove it with its record and boot files (not while a job uses it)'],
  ],
  show: [
    ['vmgr show images', 'every pool image as a table'],
    ['vmgr show images --json', 'the same as JSON, for scripts'],
    ['vmgr show image debian-12-x86_64.qcow2', 'one image: boot files, sha256, the jobs on this node using it'],
    ['vmgr show config', 'the site config keys you may see (every key as root)'],
  ],
  add: [
    ['sudo vmgr add /srv/images/rocky-9.qcow2 "Rocky Linux 9, cloud-init"', 'copy it in as rocky-9.qcow2, with a description'],
    ['sudo vmgr add ./build/disk.qcow2 --name rocky-9.4.qcow2 "Rocky 9.4"', 'under another name in the pool'],
    ['sudo vmgr add ./build/disk.qcow2 --name rocky-9.qcow2 --replace', 'replace it unless a job on this node uses it (keeps its description)'],
  ],
  update: [
    ['sudo vmgr update rocky-9.qcow2 "Rocky Linux 9.4, cloud-init"', 'change the description'],
    ['vmgr show images', 'see it'],
  ],
  delete: [
    ['vmgr show image rocky-9.qcow2', 'which jobs on this node use it now'],
    ['sudo vmgr delete image rocky-9.qcow2', 'remove the image, its record, description and boot files'],
  ],
};

/** vmgr's command line (`--help` included); `parseAsync` runs the command. */
export function vmgrParser(argv: readonly string[], io: VmgrIo): Argv<{ config: string | undefined }> {
  const root = io.euid === 0;
  const configOf = (a: { config?: string | undefined }): SiteConfig => loadConfig({ path: a.config, env: io.env }).config;
  const domainsOf = (config: SiteConfig): DomainSource => {
    const source = (io.domains ?? ((c) => libvirtDomains(c.LIBVIRT_URI)))(config);
    if (root) return source;
    // A user may not reach the system libvirt: say who can see it.
    return {
      where: source.where,
      list: () =>
        source.list().catch((err: unknown) => {
          throw new Error(`${err instanceof Error ? err.message.split('\n')[0] : String(err)} (vmgr as root sees which jobs use it)`);
        }),
    };
  };
  const useFor = (config: SiteConfig, name: string): Promise<ImageUse> => imageUseHere(config, name, { root, domains: domainsOf(config) });
  const json = (value: unknown): void => io.out(`${JSON.stringify(value, null, 2)}\n`);

  return withExamples(yargs([...argv]).scriptName('vmgr'), EXAMPLES.top)
    .strict()
    .exitProcess(false)
    .demandCommand(1, 'name a command: show, add, update or delete (vmgr --help)')
    .option('config', { type: 'string', describe: 'config file (default $VTORQUE_CONFIG or /etc/vtorque/config.yaml)' })
    .command(
      'show <what> [name]',
      'show images | image NAME | config',
      (y) =>
        withExamples(
          y
            .positional('what', { choices: ['config', 'images', 'image'] as const, demandOption: true })
            .positional('name', { type: 'string', describe: 'the image (show image)' })
            .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of text' }),
          EXAMPLES.show,
        ),
      async (a) => {
        const config = configOf(a);
        if (a.what === 'config') {
          const shown = Object.fromEntries((Object.keys(CONFIG_FIELDS) as ConfigKey[]).filter((key) => root || PUBLIC_KEY_PATTERN.test(key)).map((key) => [key, config[key]]));
          if (a.json) json(shown);
          else for (const [key, value] of Object.entries(shown)) io.out(`${key}=${JSON.stringify(value)}\n`);
          return;
        }
        if (a.what === 'images') {
          if (a.name !== undefined) throw new VtorqueError('USAGE', `show images takes no name (${JSON.stringify(a.name)}): expected vmgr show images, or vmgr show image NAME for one image`, { exitCode: 2, fault: 'job' });
          const views = await describeImages(config.VM_IMG_DIR, { root });
          if (a.json) json(views);
          else io.out(formatImageTable(views, config.VM_IMG_DIR));
          return;
        }
        if (a.name === undefined) throw new VtorqueError('USAGE', 'show image needs the image: expected vmgr show image NAME (vmgr show images lists them)', { exitCode: 2, fault: 'job' });
        const name = a.name;
        const detail = await describeImage(config.VM_IMG_DIR, name, await useFor(config, name), { root });
        if (a.json) json(detail);
        else io.out(formatImageDetail(detail));
      },
    )
    .command(
      'add <image> [description]',
      'copy an image into the pool (root)',
      (y) =>
        withExamples(
          y
            .positional('image', { type: 'string', demandOption: true, describe: 'the image file to copy (a regular file, not a link)' })
            .positional('description', { type: 'string', describe: 'one line (default: empty; a replaced image keeps its own)' })
            .option('name', { type: 'string', describe: 'name in the pool (default: the file name), ending .img, .qcow2 or .raw' })
            .option('replace', { type: 'boolean', default: false, describe: 'replace an image of that name, unless a job on this node uses it' }),
          EXAMPLES.add,
        ),
      async (a) => {
        requireRoot('add', io.euid);
        const config = configOf(a);
        const name = a.name ?? basename(a.image);
        // Its use is asked only for a name that is there to replace (libvirt may take a moment).
        const replace = a.replace && IMAGE_NAME.test(name) && lstatSync(join(config.VM_IMG_DIR, name), { throwIfNoEntry: false }) ? await useFor(config, name) : undefined;
        const written = addImage(config.VM_IMG_DIR, a.image, a.description, a.name, replace === undefined ? {} : { replace });
        for (const path of written) io.out(`added ${path}\n`);
        const meta = readImageMeta(config.VM_IMG_DIR, name);
        if (meta.state === 'ok') io.out(`sha256 ${meta.meta.sha256}  ${name}\n`);
      },
    )
    .command(
      'update <image> <description>',
      'change an image description (root)',
      (y) => withExamples(y.positional('image', { type: 'string', demandOption: true }).positional('description', { type: 'string', demandOption: true }), EXAMPLES.update),
      (a) => {
        requireRoot('update', io.euid);
        updateImage(configOf(a).VM_IMG_DIR, a.image, a.description);
      },
    )
    .command(
      'delete <what> <name>',
      'delete image NAME: remove an image, its record and boot files (root; refused while a job on this node uses it)',
      (y) => withExamples(y.positional('what', { choices: ['image'] as const, demandOption: true }).positional('name', { type: 'string', demandOption: true }), EXAMPLES.delete),
      async (a) => {
        requireRoot('delete', io.euid);
        const config = configOf(a);
        deleteImage(config.VM_IMG_DIR, a.name, await useFor(config, a.name));
        io.out(`deleted ${a.name} from ${config.VM_IMG_DIR}\n`);
      },
    )
    .epilog(VMGR_EPILOG)
    .fail((msg, err) => {
      if (err) throw err;
      throw new VtorqueError('USAGE', `${msg.replace(/\s*\n\s*/g, ' ')} (vmgr --help)`, { exitCode: 2, fault: 'job' });
    });
}

/** Run vmgr with `argv` (without node and script). */
export async function runVmgr(argv: readonly string[], io: VmgrIo): Promise<number> {
  await vmgrParser(argv, io).parseAsync();
  return 0;
}
