import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderLibvirtdConf, renderVirtlogdConf } from './daemon-config.js';
import type { SandboxLayout } from './layout.js';
import { buildNetworkXml } from './network-xml.js';
import type { Sandbox } from './options.js';

const SITE_ETC = '/etc/libvirt';
/** Our own configs; everything else at the top of /etc/libvirt (qemu.conf, …) is seeded from the site. */
const OWN_CONFIGS = new Set(['libvirtd.conf', 'virtlogd.conf']);

/**
 * Create stateDir and everything the daemons read: seeded driver configs (only the top-level
 * `*.conf` files and nwfilter XML; never the site's domains, networks, storage pools or hooks),
 * our libvirtd.conf/virtlogd.conf, the network XML. Any autostart link of libvirt's `default`
 * network is removed, so the sandbox libvirtd cannot start it even once.
 */
export function prepareStateDir(sb: Sandbox, layout: SandboxLayout): void {
  for (const dir of [layout.stateDir, layout.etcDir, layout.runDir, layout.libDir, layout.cacheDir, layout.logDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (lstatSync(dir).isSymbolicLink()) throw new Error(`${dir} is a symlink`);
  }
  seedSiteConfigs(layout.etcDir, sb.log);
  writeFileSync(layout.libvirtdConf, renderLibvirtdConf(layout), { mode: 0o644 });
  writeFileSync(layout.virtlogdConf, renderVirtlogdConf(layout), { mode: 0o644 });
  writeFileSync(layout.networkXml, buildNetworkXml(sb.network), { mode: 0o644 });
  const autostartDefault = join(layout.etcDir, 'qemu', 'networks', 'autostart', 'default.xml');
  if (lstatSync(autostartDefault, { throwIfNoEntry: false })) {
    rmSync(autostartDefault, { force: true });
    sb.log(`removed the autostart link of libvirt's 'default' network in ${layout.etcDir}`);
  }
  // Mount points for the binds. /run/libvirt may not exist yet (no site libvirtd has run):
  // creating the empty directory is the only trace the sandbox leaves outside stateDir.
  for (const bind of layout.binds) mkdirSync(bind.target, { recursive: true, mode: 0o755 });
}

function seedSiteConfigs(etcDir: string, log: (line: string) => void): void {
  let seeded = 0;
  for (const entry of readdirSafe(SITE_ETC)) {
    if (!entry.endsWith('.conf') || OWN_CONFIGS.has(entry)) continue;
    seeded += copyIfMissing(join(SITE_ETC, entry), join(etcDir, entry));
  }
  const nwfilter = join(etcDir, 'nwfilter');
  if (!existsSync(nwfilter)) {
    mkdirSync(nwfilter, { mode: 0o755 });
    for (const entry of readdirSafe(join(SITE_ETC, 'nwfilter'))) {
      if (entry.endsWith('.xml')) seeded += copyIfMissing(join(SITE_ETC, 'nwfilter', entry), join(nwfilter, entry));
    }
  }
  if (seeded > 0) log(`seeded ${seeded} libvirt config file(s) from ${SITE_ETC} into ${etcDir}`);
}

function copyIfMissing(from: string, to: string): number {
  const st = lstatSync(from, { throwIfNoEntry: false });
  if (!st?.isFile() || existsSync(to)) return 0;
  copyFileSync(from, to);
  return 1;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
