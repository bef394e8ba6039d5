import { hostCapacity } from '../../core/node/capacity.js';
import { loadConfig, CONFIG_FIELDS, type ConfigKey } from '../../core/config/index.js';
import { renderExampleConfig } from '../../admin/config/example.js';
import { torqueHookLimit } from '../../torque/mom-config.js';

export interface ConfigCommandOptions {
  action: 'check' | 'show' | 'example';
  config?: string | undefined;
  node: boolean;
}

/** `vtorque config check|show|example`: validate (optionally against this node's capacity), print. */
export function runConfigCommand(opts: ConfigCommandOptions, out: (s: string) => void): number {
  if (opts.action === 'example') {
    out(renderExampleConfig());
    return 0;
  }
  const loaded = loadConfig({ path: opts.config, env: process.env, hookLimit: torqueHookLimit, ...(opts.node ? { node: hostCapacity() } : {}) });
  for (const w of loaded.warnings) out(`warning: ${w}\n`);
  if (opts.action === 'check') {
    out(`${loaded.path}: ${loaded.fromFile ? 'valid' : 'absent, built-in defaults apply'}${opts.node ? ' (checked against this node)' : ''}\n`);
    return 0;
  }
  for (const key of Object.keys(CONFIG_FIELDS) as ConfigKey[]) out(`${key}=${JSON.stringify(loaded.config[key])}\n`);
  return 0;
}
