import { VtorqueError } from '../../core/errors.js';

export interface VsubOwnOptions {
  readonly dryRun: boolean;
  readonly json: boolean;
  readonly configPath: string | undefined;
  /** The argv with vsub's own long options removed: what qsub would see. */
  readonly qsubArgv: readonly string[];
}

/**
 * vsub's own options are long options qsub does not have (`--dry-run`, `--json`, `--config FILE`);
 * they are taken out before anything else looks at the argv. Scanning stops at `--`.
 */
export function extractOwnOptions(argv: readonly string[]): VsubOwnOptions {
  let dryRun = false;
  let json = false;
  let configPath: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === '--dry-run') dryRun = true;
    else if (arg === '--json') json = true;
    else if (arg === '--config' || arg.startsWith('--config=')) {
      const value = arg === '--config' ? argv[++i] : arg.slice('--config='.length);
      if (!value) throw new VtorqueError('USAGE', '--config needs a file path', { exitCode: 2 });
      configPath = value;
    } else rest.push(arg);
  }
  if (json && !dryRun) throw new VtorqueError('USAGE', '--json is only valid with --dry-run', { exitCode: 2 });
  return { dryRun, json, configPath, qsubArgv: rest };
}
