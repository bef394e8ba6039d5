import { accessSync, constants } from 'node:fs';
import type { SiteConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';

/** The real qsub this host uses: PBS_QSUB_ON_FE on front-end hosts (REGEX_FE), PBS_QSUB_ON_NODES elsewhere. */
export function selectQsub(config: SiteConfig, hostname: string): string {
  const onFrontEnd = config.REGEX_FE !== '' && new RegExp(`^(?:${config.REGEX_FE})$`).test(hostname);
  return onFrontEnd ? config.PBS_QSUB_ON_FE : config.PBS_QSUB_ON_NODES;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function ensureExecutable(path: string): void {
  if (!isExecutable(path)) {
    throw new VtorqueError('QSUB_MISSING', `the configured qsub ${path} is missing or not executable (PBS_QSUB_ON_FE / PBS_QSUB_ON_NODES)`, { fault: 'node' });
  }
}
