import yargs from 'yargs';
import { addImage, deleteImage, updateImage } from '../../admin/pool/manage.js';
import { CONFIG_FIELDS, PUBLIC_KEY_PATTERN, loadConfig, type ConfigKey } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { listPoolImages } from '../../core/pool/images.js';
import { runMain } from '../../core/run-main.js';

const out = (s: string): void => void process.stdout.write(s);

// The image pool CLI: anyone may look; root changes the pool.
await runMain('vmgr', async () => {
  await yargs(process.argv.slice(2))
    .scriptName('vmgr')
    .strict()
    .demandCommand(1, 'name a command')
    .option('config', { type: 'string', describe: 'config file (default $VTORQUE_CONFIG or /etc/vtorque/config.yaml)' })
    .command('show <what> [name]', 'show config | images | image <name>', (y) => y.positional('what', { choices: ['config', 'images', 'image'] as const, demandOption: true }).positional('name', { type: 'string' }), (a) => {
      const { config } = loadConfig({ path: a.config, env: process.env });
      if (a.what === 'config') {
        const root = process.geteuid?.() === 0;
        for (const key of Object.keys(CONFIG_FIELDS) as ConfigKey[]) {
          if (root || PUBLIC_KEY_PATTERN.test(key)) out(`${key}=${JSON.stringify(config[key])}\n`);
        }
        return;
      }
      const images = listPoolImages(config.VM_IMG_DIR);
      if (a.what === 'images') {
        if (images.length === 0) out(`no images in ${config.VM_IMG_DIR}\n`);
        for (const i of images) out(`${i.name}\t${(i.sizeBytes / 1024 ** 2).toFixed(0)} MiB\t${i.description}\n`);
        return;
      }
      const image = images.find((i) => i.name === a.name);
      if (!image) throw new VtorqueError('REQUEST_INVALID', `no image ${JSON.stringify(a.name ?? '')} in ${config.VM_IMG_DIR}; available: ${images.map((i) => i.name).join(', ') || '(none)'}`, { fault: 'job' });
      out(`name: ${image.name}\nsize: ${image.sizeBytes} bytes\nmodified: ${image.mtime.toISOString()}\ndescription: ${image.description}\n`);
    })
    .command('add <image> [description]', 'copy an image into the pool (root)', (y) => y.positional('image', { type: 'string', demandOption: true }).positional('description', { type: 'string', default: '' }).option('name', { type: 'string', describe: 'name in the pool (default: the file name)' }), (a) => {
      const { config } = loadConfig({ path: a.config, env: process.env });
      for (const path of addImage(config.VM_IMG_DIR, a.image, a.description, a.name)) out(`added ${path}\n`);
    })
    .command('update <image> <description>', 'change an image description (root)', (y) => y.positional('image', { type: 'string', demandOption: true }).positional('description', { type: 'string', demandOption: true }), (a) => {
      const { config } = loadConfig({ path: a.config, env: process.env });
      updateImage(config.VM_IMG_DIR, a.image, a.description);
    })
    .command('delete image <name>', 'remove an image from the pool (root)', (y) => y.positional('name', { type: 'string', demandOption: true }), (a) => {
      const { config } = loadConfig({ path: a.config, env: process.env });
      deleteImage(config.VM_IMG_DIR, a.name);
    })
    .fail((msg, err) => {
      if (err) throw err;
      throw new VtorqueError('USAGE', msg, { exitCode: 2, fault: 'job' });
    })
    .parseAsync();
  return 0;
});
