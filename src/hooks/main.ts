import { runMain } from '../core/run-main.js';

/**
 * Node side of the five Torque hooks, reached only for VM jobs (the shell front decided that and
 * already ran `<hook>.orig`): argv = hook name, the .orig exit code, then pbs_mom's own argv.
 * Until the Torque integration lands, a VM job cannot run here: the prologue aborts it with a
 * reason the user sees (exit 1 = abort, not requeue); every other hook keeps the .orig verdict.
 */
await runMain('vtorque-hook', async () => {
  const [hook = '', origRc = '0'] = process.argv.slice(2);
  if (hook === 'prologue') {
    process.stdout.write('vTorque: this node cannot start VM jobs yet (the VM boot hooks are not installed); job aborted.\n');
    return 1;
  }
  return Number(origRc) || 0;
});
