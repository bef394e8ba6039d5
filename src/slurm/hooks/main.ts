import { loadConfig } from '../../core/config/index.js';
import { appLayout } from '../../core/install/paths.js';
import { formatSelfCheck, selfCheck } from '../../core/install/self-check.js';
import { createLogger } from '../../core/log/logger.js';
import { runMain } from '../../core/run-main.js';
import { reason, withJobStartLock } from '../../lifecycle/index.js';
import { parseSlurmHookEnv } from './context.js';
import { runSlurmEpilog } from './epilog.js';
import { SLURM_HOOK_EXIT } from './exit-codes.js';
import { runSlurmProlog } from './prolog.js';
import { slurmClient } from './slurm-client.js';

/**
 * Node side of the Slurm hooks (dist/slurm-hook.mjs), reached only for jobs the sh front picked:
 * argv = prolog | epilog; everything else comes from slurmd's environment. slurmd keeps a hook's
 * output only when it fails (slurmd.log), so lines go there and to LOG_DIR; the owner learns a
 * failed start's reason from the job itself.
 */
await runMain('vtorque', async () => {
  // slurmd gives its hooks no PATH (slurm-hook-contract.md G6); root's tools come from the system's own directories only.
  process.env.PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
  const hook = process.argv[2];
  const say = (line: string): void => void process.stdout.write(`vTorque: ${line}\n`);
  if (hook !== 'prolog' && hook !== 'epilog') {
    say(`unknown Slurm hook ${JSON.stringify(hook ?? '')}: expected prolog or epilog`);
    return SLURM_HOOK_EXIT.drain;
  }
  let loaded;
  try {
    loaded = loadConfig({ env: process.env });
  } catch (err) {
    // A broken node config is the node's fault: the node drains with the reason in slurmd.log.
    say(`this node's configuration is invalid: ${reason(err)}`);
    return SLURM_HOOK_EXIT.drain;
  }
  const { config, path: configPath } = loaded;
  const layout = appLayout(import.meta.url);
  // As slurmd should for its hooks: never run as root from files someone else could have changed.
  const unsafe = selfCheck(layout, configPath);
  if (unsafe.length > 0) {
    for (const line of formatSelfCheck(unsafe)) say(`refusing to run: ${line}`);
    return SLURM_HOOK_EXIT.drain;
  }
  const ctx = parseSlurmHookEnv(hook, process.env);
  const log = createLogger({ component: `slurm-${hook}`, level: config.LOG_LEVEL, logDir: config.LOG_DIR, human: config.PRINT_TO_STDOUT ? process.stdout : null }).child({ jobId: ctx.jobId, node: ctx.node });
  const slurm = slurmClient(config, process.env);
  const progress = (line: string): void => log.info({}, line);
  if (hook === 'epilog') return runSlurmEpilog(ctx, { config, layout, log, say, slurm, configPath });
  // Held to the end (the outcome left for the owner included): the Epilog waits for it.
  return withJobStartLock(config, ctx.jobId, (config.PROLOGUE_TIMEOUT + 30) * 1000, () => runSlurmProlog(ctx, { config, layout, log, say: progress, slurm }));
});
