import { VtorqueError } from '../../core/errors.js';
import { VSUB_EXIT } from './exit-codes.js';

export interface VsubOwnOptions {
  /** `--help` anywhere before `--`: show vsub's help, submit nothing. */
  readonly help: boolean;
  readonly dryRun: boolean;
  readonly json: boolean;
  readonly configPath: string | undefined;
  /** The argv with vsub's own long options removed: what qsub would see. */
  readonly qsubArgv: readonly string[];
}

/**
 * vsub's own options are long options qsub does not have (`--help`, `--dry-run`, `--json`,
 * `--config FILE`); they are taken out before anything else looks at the argv. Scanning stops at
 * `--`. With `--help` nothing else is checked, so help always works.
 */
export function extractOwnOptions(argv: readonly string[]): VsubOwnOptions {
  let help = false;
  let dryRun = false;
  let json = false;
  let configPath: string | undefined;
  let problem: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === '--help') help = true;
    else if (arg === '--dry-run') dryRun = true;
    else if (arg === '--json') json = true;
    else if (arg === '--config' || arg.startsWith('--config=')) {
      const value = arg === '--config' ? argv[++i] : arg.slice('--config='.length);
      if (value) configPath = value;
      else problem ??= '--config needs a file path';
    } else rest.push(arg);
  }
  if (json && !dryRun) problem ??= '--json is only valid with --dry-run';
  if (problem !== undefined && !help) throw new VtorqueError('USAGE', problem, { exitCode: VSUB_EXIT.usage, fault: 'job' });
  return { help, dryRun, json, configPath, qsubArgv: rest };
}
