import { hostname } from 'node:os';
import { loadConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { appLayout } from '../../core/install/paths.js';
import { formatSelfCheck, selfCheck } from '../../core/install/self-check.js';
import { createLogger } from '../../core/log/logger.js';
import { localNode, nodeEngine, serveNodeOps } from '../../engine/index.js';

/**
 * `vtorque node-agent [--name N]`: serve node operations (node-ops v1) on stdin/stdout for the
 * head of a multi-node job, which starts it on this node as root (over ssh). Everything it does
 * is this node's localNode, from this node's own config, templates and libvirt; its log goes to
 * LOG_DIR, never to stdout (that is the protocol).
 */
export async function runNodeAgent(a: { config?: string | undefined; name?: string | undefined }, fromUrl: string): Promise<number> {
  if (process.getuid?.() !== 0) throw new VtorqueError('PERMISSION', 'vtorque node-agent makes and removes VMs and root-owned files: it runs as root', { exitCode: 1, fault: 'node' });
  const loaded = loadConfig({ path: a.config, env: process.env });
  const layout = appLayout(fromUrl);
  const unsafe = selfCheck(layout, loaded.fromFile ? loaded.path : null);
  if (unsafe.length > 0) throw new VtorqueError('UNSAFE_PATH', `refusing to run: ${formatSelfCheck(unsafe).join('; ')}`, { fault: 'node' });
  const log = createLogger({ component: 'node-agent', level: loaded.config.LOG_LEVEL, logDir: loaded.config.LOG_DIR, human: null });
  const name = a.name ?? hostname().split('.')[0] ?? hostname();
  const engine = await nodeEngine(loaded.config, layout, log, () => undefined);
  try {
    await serveNodeOps(localNode(engine, { name }), process.stdin, process.stdout, log);
  } finally {
    await engine.libvirt.close().catch(() => undefined);
  }
  return 0;
}
