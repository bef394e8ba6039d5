import { defaultConfig, loadConfig, resolveConfigPath, type SiteConfig } from '../../core/config/index.js';
import { ACCEPTED, REQUEST_DEFAULTS, REQUEST_KEYS, type RequestKey, SIZE_KEYS } from '../../core/request/index.js';
import { VSUB_EXIT } from './exit-codes.js';
import type { VsubOwnOptions } from './own-options.js';
import { isExecutable, selectQsub } from './qsub-binary.js';
import type { VsubDeps } from './deps.js';

/**
 * `vsub --help`: vsub's own options and every -vm key (accepted form and default, from the tables
 * the parser uses), examples, then qsub's own help. Needs no qsub and no valid site config: a
 * config that cannot be used gives the built-in defaults and one line saying why.
 */
export async function printHelp(own: VsubOwnOptions, deps: VsubDeps): Promise<number> {
  const { config, origin } = helpConfig(own.configPath, deps.env);
  deps.out(helpText(config, origin));

  let qsub = config.PBS_QSUB_ON_NODES;
  try {
    qsub = selectQsub(config, deps.hostname);
  } catch {
    // a REGEX_FE that does not compile: the nodes' qsub
  }
  if (isExecutable(qsub)) {
    deps.out(`\nqsub's own options, all taken by vsub as qsub takes them (from ${qsub} --help):\n`);
    try {
      await deps.runQsub(qsub, ['--help'], '');
      return VSUB_EXIT.ok;
    } catch {
      // it could not be started after all: say where its options are documented instead
    }
  }
  deps.out(`\nqsub's own options, all taken by vsub as qsub takes them: see qsub(1) (\`man qsub\`, Torque's documentation); the configured qsub ${qsub} is not installed here (PBS_QSUB_ON_FE / PBS_QSUB_ON_NODES)\n`);
  return VSUB_EXIT.ok;
}

export function helpText(config: SiteConfig, origin: string): string {
  const keys = vmKeysHelp(config);
  return `usage: vsub [qsub options] [-vm key=value[,key=value]...] [--dry-run [--json]] [--config FILE] [script]

vsub submits a Torque job exactly as qsub does. With -vm on the command line, or "#PBS -vm
key=value,..." among the script's directives, the job runs in virtual machines started for it;
without, vsub runs qsub with your arguments unchanged.

vsub's own options (qsub never sees them):
  -vm key=value,...  ask for VMs (repeatable). A key may appear once on the command line and once in
                     the script; when it is in both the command line wins, with a warning
  --dry-run          print the qsub command, the request and the job wrapper; submit nothing
  --json             with --dry-run: all of it as one JSON object
  --config FILE      the vTorque site config (default: $VTORQUE_CONFIG, else ${resolveConfigPath({ env: {} }).path})
  --help             this help, wherever it is before "--" (qsub's -h is its hold option, as ever)

-vm keys (case-insensitive); the defaults are ${origin}:
${keys}
Booleans take true/false, yes/no, enabled/disabled, on/off or auto in any case, and the original's
digits, where 0 means enabled and 1 disabled. Files that keys name are read when you submit.

Examples:
  # a batch job in one VM (2 vCPUs, 4 GiB) from the pool's Debian 12 image
  vsub -l walltime=1:00:00 -vm img=debian-12-x86_64.qcow2,vcpus=2,ram=4G job.sh
  # a STDIN job, as qsub takes one
  echo hostname | vsub -vm vcpus=1
  # 2 nodes, 2 VMs on each (4 ranks; ppn and mem are raised to hold them)
  vsub -l nodes=2 -vm vcpus=2,vms_per_node=2 job.sh
  # the qsub command, the request and the job wrapper as JSON; submits nothing
  vsub --dry-run --json -vm vcpus=2 job.sh
`;
}

/**
 * The site config help shows its defaults from: the site's, or vTorque's built-in ones with one
 * line saying why (help needs no valid config).
 */
export function helpConfig(path: string | undefined, env: NodeJS.ProcessEnv): { config: SiteConfig; origin: string } {
  try {
    const loaded = loadConfig({ path, env });
    return { config: loaded.config, origin: loaded.fromFile ? `this site's (${loaded.path})` : `vTorque's built-in ones (there is no ${loaded.path})` };
  } catch (err) {
    const lines = (err instanceof Error ? err.message : String(err)).split('\n');
    const more = lines.length > 1 ? ` and ${lines.length - 1} more problem(s)` : '';
    return { config: defaultConfig(), origin: `vTorque's built-in ones, as the site config cannot be used: ${lines[0]}${more}` };
  }
}

/** Every VM request key with what it accepts and its default here, two lines each (from the parser's tables). */
export function vmKeysHelp(config: SiteConfig): string {
  return REQUEST_KEYS.map((key) => `  ${`${key}=`.padEnd(17)}${ACCEPTED[key]}\n  ${''.padEnd(17)}default: ${defaultOf(key, config)}\n`).join('');
}

function defaultOf(key: RequestKey, config: SiteConfig): string {
  const from = REQUEST_DEFAULTS[key];
  if (from === null) return 'none';
  const value = config[from];
  const shown = value === '' ? 'none' : typeof value === 'number' && SIZE_KEYS.includes(key) ? formatMiB(value) : String(value);
  // buildRequest: the default distro goes with the default image; an img= given names its own.
  return key === 'distro' ? `${shown} (${from}) with the default image; with img=, the distro its name names` : `${shown} (${from})`;
}

function formatMiB(mib: number): string {
  if (mib % (1024 * 1024) === 0) return `${mib / (1024 * 1024)}T`;
  if (mib % 1024 === 0) return `${mib / 1024}G`;
  return `${mib}M`;
}
