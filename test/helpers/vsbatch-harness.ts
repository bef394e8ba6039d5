import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runVsbatch } from '../../src/cli/vsbatch/submit.js';
import { VtorqueError } from '../../src/core/errors.js';
import { makeSite, type TestSite } from './site.js';
import { harnessIo } from './vsub-harness.js';

export interface SlurmSite extends TestSite {
  /** A fake sbatch: records its argv (one word a line) and stdin, prints a job id, exits with $STUB_RC. */
  readonly sbatch: string;
}

export function makeSlurmSite(overrides: Record<string, unknown> = {}): SlurmSite {
  const probe = makeSite();
  const sbatch = join(probe.dir, 'sbatch');
  writeFileSync(
    sbatch,
    `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "${probe.dir}/sbatch.argv"\ncat > "${probe.dir}/sbatch.stdin"\nfor a in "$@"; do [ -f "$a" ] && cp "$a" "${probe.dir}/sbatch.script" && break; done\necho "Submitted batch job 42"\nexit \${STUB_RC:-0}\n`,
    { mode: 0o755 },
  );
  const site = { ...probe, sbatch };
  const write = probe.writeConfig.bind(probe);
  site.writeConfig = (more) => write({ SLURM_SBATCH: sbatch, ...overrides, ...more });
  site.writeConfig({});
  return site;
}

export interface VsbatchOutcome {
  code: number;
  out: string;
  err: string;
  /** The sbatch call, if one was made: program, argv, stdin text, and the wrapper file's text. */
  sbatch: { file: string; args: string[]; input: string | null; fileText: string | null } | null;
  error: VtorqueError | null;
}

/** Run vsbatch in-process against a test site, as `runMain` would map errors to exit codes. */
export async function vsbatch(site: SlurmSite, argv: string[], opts: { stdin?: string; env?: Record<string, string>; rc?: number } = {}): Promise<VsbatchOutcome> {
  let out = '';
  let err = '';
  let sbatch: VsbatchOutcome['sbatch'] = null;
  const io = harnessIo(site, opts, (t) => void (out += t), (t) => void (err += t));
  try {
    const code = await runVsbatch(argv, {
      ...io,
      runSbatch: async (file, args, input) => {
        const wrapper = args.find((a) => a.startsWith(site.tmp) && existsSync(a));
        sbatch = { file, args: [...args], input, fileText: wrapper ? readFileSync(wrapper, 'utf8') : null };
        return opts.rc ?? 0;
      },
    });
    return { code, out, err, sbatch, error: null };
  } catch (e) {
    if (!(e instanceof VtorqueError)) throw e;
    return { code: e.exitCode, out, err: err + e.message, sbatch, error: e };
  }
}
