import { loadConfig } from '../../core/config/index.js';
import { prologueAlarm, torqueHookLimit } from '../mom-config.js';
import { appLayout } from '../../core/install/paths.js';
import { formatSelfCheck, selfCheck } from '../../core/install/self-check.js';
import { createLogger } from '../../core/log/logger.js';
import { runMain } from '../../core/run-main.js';
import { reason, withJobStartLock } from '../../lifecycle/index.js';
import { parseHookArgv } from './context.js';
import { runEpilogue } from './epilogue.js';
import { PROLOGUE_EXIT } from './exit-codes.js';
import { runPrologue } from './prologue.js';

/**
 * Node side of the Torque hooks, reached only for VM jobs (the shell front decided that and ran
 * `<hook>.orig`): argv = hook name, the .orig exit code, then pbs_mom's own argv. stdout is the
 * job's output file for prologue/epilogue, so messages there are for the user; JSON logs go to LOG_DIR.
 */
await runMain('vtorque', async () => {
  const argv = process.argv.slice(2);
  const hook = argv[0] ?? '';
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  let config;
  let configPath: string;
  try {
    const loaded = loadConfig({ env: process.env, hookLimit: torqueHookLimit });
    config = loaded.config;
    configPath = loaded.path;
  } catch (err) {
    // A broken node config is a node fault: requeue (the job is fine), say why in the job's output.
    say(`vTorque: this node's configuration is invalid: ${reason(err)}`);
    return hook === 'prologue' ? PROLOGUE_EXIT.requeue : 1;
  }
  // As pbs_mom does for its hooks: never run as root from files someone else could have changed.
  const unsafe = selfCheck(appLayout(import.meta.url), configPath);
  if (unsafe.length > 0) {
    for (const line of formatSelfCheck(unsafe)) say(`vTorque: refusing to run: ${line}`);
    return 1;
  }
  const ctx = parseHookArgv(argv, config.TORQUE_HOME);
  const log = createLogger({ component: ctx.hook, level: config.LOG_LEVEL, logDir: config.LOG_DIR, human: config.PRINT_TO_STDOUT ? process.stdout : null }).child({ jobId: ctx.jobId });
  const layout = appLayout(import.meta.url);
  // pbs_mom puts the same alarm on the prologue and the epilogue family.
  const alarmSeconds = (): number => prologueAlarm(config.TORQUE_HOME).seconds;
  switch (ctx.hook) {
    case 'prologue': {
      // Held to the end (the outcome left for the owner included): the epilogue waits for it.
      const alarm = alarmSeconds();
      return withJobStartLock(config, ctx.jobId, alarm * 1000, () => runPrologue(ctx, { config, layout, env: process.env, log, say, alarmSeconds: alarm }));
    }
    case 'epilogue':
    case 'epilogue.parallel':
      return runEpilogue(ctx, { config, layout, env: process.env, log, say, alarmSeconds: alarmSeconds(), configPath });
    case 'prologue.parallel':
      // Blocks the sister's pbs_mom main loop: nothing slow here; the mother superior boots the VMs.
      return ctx.origRc;
    default:
      return ctx.origRc;
  }
});

