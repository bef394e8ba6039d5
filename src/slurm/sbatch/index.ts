// sbatch's command line, `#SBATCH` directives and Slurm's sizes, read the way Slurm 22.05's sbatch reads them.
export { SBATCH_OPTIONS, parseSbatchArgs, resolveLong, lastValue, hasOption, sbatchWords, type SbatchOption, type SbatchToken, type ParsedSbatchArgs, type OwnOption, type ArgKind } from './options.js';
export { readSbatchHeader, splitDirectiveWords, SBATCH_PREFIX, FOREIGN_PREFIXES, type SbatchDirective, type SbatchScriptHeader } from './directives.js';
export { slurmSize, slurmSizeMiB, SLURM_SIZE_FORM } from './size.js';
export { computeSlurmRaise, type SlurmNeed, type SlurmRaise, type SlurmLevels } from './raise.js';
