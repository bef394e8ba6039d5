import { readPoolUse, useOf, type DomainSource, type DomainView, type ImageUse } from '../../admin/pool/usage.js';
import type { SiteConfig } from '../../core/config/index.js';

/** Bounds on vmgr's look at libvirt: one connection attempt, then the whole listing. */
export const LIBVIRT_OPEN_MS = 5_000;
export const LIBVIRT_LIST_MS = 15_000;

/**
 * The domains libvirt at `uri` has, each with the XML libvirt reports for it (what vmgr decides an
 * image's use from). One connection attempt, the listing bounded as a whole; a domain that goes
 * away while it is listed is left out. The admin role may not reach libvirt itself, so the CLI
 * hands this to it.
 */
export function libvirtDomains(uri: string, limits: { openMs?: number; listMs?: number } = {}): DomainSource {
  return {
    where: uri,
    async list(): Promise<DomainView[]> {
      // Loaded only when asked: vmgr show images needs no libvirt, and a host without libvirt's
      // library can still show the pool.
      const { openLibvirt, withDeadline } = await import('../../engine/index.js');
      const node = await openLibvirt(uri, { attempts: 1, attemptTimeoutMs: limits.openMs ?? LIBVIRT_OPEN_MS });
      try {
        const work = (async () => {
          const listed = await node.listDomains();
          const views = await Promise.all(
            listed.map(async (d) => {
              try {
                return { name: d.name, active: d.active, xml: await node.xmlOf(d.name) };
              } catch (err) {
                if ((err as { notFound?: boolean }).notFound === true) return null;
                throw err;
              }
            }),
          );
          return views.filter((d): d is DomainView => d !== null);
        })();
        return await withDeadline(work, limits.listMs ?? LIBVIRT_LIST_MS, `listing the domains of ${uri}`);
      } finally {
        await withDeadline(node.close(), 2_000, `closing ${uri}`).catch(() => undefined);
      }
    },
  };
}

/**
 * An image's use on this node now, as `vmgr delete image` and `vmgr add --replace` decide from it:
 * libvirt at LIBVIRT_URI (or `domains`) and, for root, root's job records in SPOOL_DIR. For any
 * command that replaces a pool image (`vtorque image build --register` too).
 */
export async function imageUseHere(config: Pick<SiteConfig, 'VM_IMG_DIR' | 'SPOOL_DIR' | 'LIBVIRT_URI'>, name: string, opts: { root: boolean; domains?: DomainSource }): Promise<ImageUse> {
  const domains = opts.domains ?? libvirtDomains(config.LIBVIRT_URI);
  return useOf(await readPoolUse({ poolDir: config.VM_IMG_DIR, spoolDir: config.SPOOL_DIR, domains, readRecordsToo: opts.root }), name);
}
