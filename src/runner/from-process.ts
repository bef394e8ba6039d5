import { loadConfig } from '../core/config/index.js';
import { appLayout } from '../core/install/paths.js';
import { createRenderer } from '../core/render/index.js';
import { VtorqueError } from '../core/errors.js';
import { RUNNER_EXIT } from './exit-codes.js';
import { runJob } from './run-job.js';

/** The `-F` arguments: everything after the `job-run` command word, untouched (no option parsing). */
export function jobRunArgs(argv: readonly string[]): string[] {
  const at = argv.indexOf('job-run', 2);
  if (at < 0) throw new VtorqueError('USAGE', 'expected the `job-run` command in argv', { exitCode: RUNNER_EXIT.usage, fault: 'job' });
  return argv.slice(at + 1);
}

/**
 * The job runner as the job wrapper starts it (`node job-run.mjs "$@"`, or `vtorque job-run "$@"`
 * in wrappers written before the runner had its own bundle): process env, the job's arguments,
 * its cwd (where Slurm started the job), stdout and stderr; SIGTERM (and SIGINT) from the
 * scheduler cancel the job. Returns the exit code.
 */
export async function runJobFromProcess(args: readonly string[]): Promise<number> {
  const { config } = loadConfig({ env: process.env });
  const layout = appLayout(import.meta.url);
  const controller = new AbortController();
  const cancel = (): void => controller.abort();
  process.on('SIGTERM', cancel);
  process.on('SIGINT', cancel);
  try {
    return await runJob({
      config,
      env: process.env,
      ...currentDir(),
      args,
      stdout: process.stdout,
      stderr: process.stderr,
      renderTemplates: createRenderer(layout.templates),
      signal: controller.signal,
    });
  } finally {
    process.off('SIGTERM', cancel);
    process.off('SIGINT', cancel);
  }
}

/** process.cwd(), or nothing when the directory is gone (uv_cwd fails): the guest then starts at home. */
export function currentDir(cwd: () => string = () => process.cwd()): { cwd?: string } {
  try {
    return { cwd: cwd() };
  } catch {
    return {};
  }
}
