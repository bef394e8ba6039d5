import type { SiteConfig } from '../core/config/index.js';
import type { Renderer } from '../core/render/index.js';
import type { UserDataBase } from '../guest/index.js';
import type { EngineLog, LibvirtNode } from './libvirt/index.js';
import type { DomainType } from './types.js';

/** What the engine works with on this host: its libvirt, its templates, its site config. */
export interface EngineContext {
  readonly config: SiteConfig;
  readonly libvirt: LibvirtNode;
  readonly domainType: DomainType;
  readonly renderTemplates: Renderer;
  readonly renderTemplatesVm: Renderer;
  readonly userDataBase: UserDataBase;
  readonly log: EngineLog;
  /** Human progress lines (phase, VM, elapsed) for the job's own output. */
  readonly progress?: (line: string) => void;
  /**
   * QEMU_USER job-uid: the host's kvm group id (qemu's gid; null: no kvm group, the gid is the
   * uid's number), resolved once when the context is made. Absent: a start looks it up.
   */
  readonly kvmGid?: number | null;
}

/** In SPOOL_DIR: held while a job observes the node and defines its domains. */
export const NODE_LOCK_FILE = 'node.lock';
