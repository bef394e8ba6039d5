import { tmpdir } from 'node:os';
import { basename } from 'node:path';
import { loadConfig, type SiteConfig } from '../../core/config/index.js';
import { renderJobWrapper } from '../../core/contract/job-wrapper.js';
import { displayValue, VtorqueError } from '../../core/errors.js';
import { createRenderer } from '../../core/render/index.js';
import type { VmRequest, VmSpec, VmSpecs } from '../../core/request/index.js';
import {
  computeSlurmRaise,
  FOREIGN_PREFIXES,
  hasOption,
  lastValue,
  parseSbatchArgs,
  readSbatchHeader,
  SBATCH_PREFIX,
  sbatchWords,
  type OwnOption,
  type SbatchScriptHeader,
  type SbatchToken,
} from '../../slurm/sbatch/index.js';
import { VM_COMMENT_MARKER } from '../../slurm/hook-names.js';
import { isExecutable } from '../vsub/qsub-binary.js';
import { followSlurmJob, showJobAsUser } from './follow.js';
import { VSUB_EXIT } from '../vsub/exit-codes.js';
import { readScriptFile, withPrivateFile } from '../shared/files.js';
import { lateVmNote, printDryRun, WRAPPER_PLACEHOLDER } from '../shared/dry-run.js';
import { needPerNode, submittedRequest } from '../shared/request.js';
import type { VsbatchDeps } from './deps.js';

export type { VsbatchDeps };

/** vsbatch's own long options (exact words, never shortened; sbatch never sees them). */
const OWN: readonly OwnOption[] = [
  { long: 'vm', value: true },
  { long: 'dry-run', value: false },
  { long: 'json', value: false },
  { long: 'config', value: true },
  { long: 'follow', value: false },
];
/** In `#SBATCH` lines only --vm is vsbatch's. */
const OWN_IN_SCRIPT: readonly OwnOption[] = [{ long: 'vm', value: true }];
const VM_FORM = 'key=value[,key=value...], e.g. --vm img=debian-12-x86_64.qcow2,vcpus=2';

export { WRAPPER_PLACEHOLDER };

/** What a VM submission amounts to, before anything is written: the dry run prints exactly this. */
export interface SbatchPlan {
  readonly sbatch: string;
  readonly args: readonly string[];
  readonly request: VmRequest;
  readonly wrapper: string;
  /** Basename of the wrapper file (the user's script's, `wrap` for --wrap); null: on sbatch's stdin. */
  readonly wrapperName: string | null;
  readonly notes: readonly string[];
}

export async function runVsbatch(argv: readonly string[], deps: VsbatchDeps): Promise<number> {
  const parsed = parseSbatchArgs(argv, OWN);
  // Help (sbatch's --help or -h) needs neither sbatch nor a valid site config; its module is loaded only when asked for.
  if (hasOption(parsed.tokens, 'help')) {
    const config = parsed.tokens.find((t) => t.kind === 'own' && t.name === 'config');
    return (await import('./help.js')).printVsbatchHelp(config?.kind === 'own' ? (config.value ?? undefined) : undefined, deps);
  }
  const own = ownOptions(parsed.tokens);
  const { config } = loadConfig({ path: own.configPath, env: deps.env });
  const sbatch = config.SLURM_SBATCH;
  // What sbatch gets without --vm: every word but vsbatch's own, as given.
  const sbatchArgv = [...sbatchWords(parsed.tokens), ...(parsed.script === null ? [] : [parsed.script, ...parsed.scriptArgs])];

  const wrap = lastValue(parsed.tokens, 'wrap');
  let stdinText: string | null = null;
  let scriptText: string | null = null;
  if (typeof wrap === 'string') scriptText = `#!/bin/sh\n${wrap}\n`;
  else if (parsed.script !== null) {
    try {
      scriptText = readScriptFile(parsed.script, deps.cwd);
    } catch (err) {
      // sbatch reports a script it cannot open itself; only a VM job needs it read.
      if (own.vmSpecs.length > 0) throw err;
    }
  } else if (!['usage', 'version'].some((n) => hasOption(parsed.tokens, n))) scriptText = stdinText = await deps.readStdin();

  const scriptName = typeof wrap === 'string' ? 'wrap' : (parsed.script ?? 'STDIN');
  const header = scriptText === null || typeof wrap === 'string' ? null : readSbatchHeader(scriptText, scriptName, OWN_IN_SCRIPT);
  const directives = header?.directives ?? [];
  const specs: VmSpecs = {
    script: directives.flatMap((d) => vmValues(d.parsed.tokens).map((text): VmSpec => ({ text, source: `${scriptName} line ${d.lineNo}` }))),
    commandLine: own.vmSpecs.map((text): VmSpec => ({ text, source: '--vm' })),
  };
  const vmJob = specs.script.length > 0 || specs.commandLine.length > 0 || directives.some((d) => d.problem !== null && /--vm/.test(d.line));
  if (header !== null) {
    const late = lateVmNote(header.lateVmLines, header.firstCommand, scriptName, '#SBATCH --vm', 'sbatch', vmJob);
    if (late !== null) deps.err(`vsbatch: ${late}\n`);
  }

  if (!vmJob) {
    // Not a VM job: sbatch with the argv exactly as given, and nothing printed of our own.
    if (own.dryRun) return printDryRun(deps.out, own.json, 'sbatch', [sbatch, ...sbatchArgv], null, null);
    if (own.follow) throw usage('--follow watches a VM job start: expected --vm (or #SBATCH --vm) too');
    ensureSbatch(sbatch);
    return deps.runSbatch(sbatch, sbatchArgv, stdinText);
  }

  refuseUnsupported(parsed.tokens, config, deps, typeof wrap === 'string' && parsed.script !== null);
  if (header !== null) checkScript(header, scriptText as string, scriptName, parsed.tokens, deps.env);
  const plan = planSubmission({ config, sbatch, tokens: parsed.tokens, header, scriptArgs: parsed.scriptArgs, script: scriptText ?? '', scriptName, wrap: typeof wrap === 'string', specs, deps });
  for (const note of plan.notes) deps.err(`vsbatch: ${note}\n`);
  if (own.dryRun) return printDryRun(deps.out, own.json, 'sbatch', [sbatch, ...plan.args], plan.request, plan.wrapper);
  ensureSbatch(sbatch);
  let said = '';
  const onStdout = own.follow ? (text: string): void => void (said += text) : undefined;
  const code =
    plan.wrapperName === null
      ? await deps.runSbatch(sbatch, plan.args, plan.wrapper, onStdout)
      : await withPrivateFile(deps.env.TMPDIR || tmpdir(), 'vsbatch-', plan.wrapperName, plan.wrapper, (path) =>
          deps.runSbatch(sbatch, plan.args.map((a) => (a === WRAPPER_PLACEHOLDER ? path : a)), null, onStdout),
        );
  if (!own.follow || code !== 0) return code;
  const id = /Submitted batch job (\d+)/.exec(said)?.[1];
  if (id === undefined) {
    deps.err('vsbatch: --follow: sbatch printed no job id ("Submitted batch job N"), so there is nothing to follow\n');
    return 1;
  }
  return followSlurmJob(id, {
    show: (jobId) => (deps.showJob ?? showJobAsUser)(config.SLURM_SCONTROL, jobId),
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    err: deps.err,
  });
}

interface OwnSettings {
  readonly follow: boolean;
  readonly dryRun: boolean;
  readonly json: boolean;
  readonly configPath: string | undefined;
  readonly vmSpecs: readonly string[];
}

function ownOptions(tokens: readonly SbatchToken[]): OwnSettings {
  let dryRun = false;
  let json = false;
  let follow = false;
  let configPath: string | undefined;
  const vmSpecs: string[] = [];
  for (const t of tokens) {
    if (t.kind !== 'own') continue;
    if (t.name === 'dry-run') dryRun = true;
    else if (t.name === 'follow') follow = true;
    else if (t.name === 'json') json = true;
    else if (t.name === 'config') {
      if (!t.value) throw usage('--config needs a file path: expected --config FILE');
      configPath = t.value;
    } else if (t.name === 'vm') {
      if (t.value === null || t.value === '' || t.value.startsWith('-')) throw usage(`--vm needs a value: expected --vm ${VM_FORM}`);
      vmSpecs.push(t.value);
    }
  }
  if (json && !dryRun) throw usage('--json is only valid with --dry-run: expected --dry-run --json');
  if (follow && dryRun) throw usage('--follow watches a submitted job start, --dry-run submits nothing: expected one of them');
  return { dryRun, json, configPath, vmSpecs, follow };
}

function vmValues(tokens: readonly SbatchToken[]): string[] {
  return tokens.flatMap((t) => {
    if (t.kind !== 'own' || t.name !== 'vm') return [];
    if (t.value === null || t.value === '' || t.value.startsWith('-')) throw usage(`#SBATCH --vm needs a value: expected #SBATCH --vm ${VM_FORM}`);
    return [t.value];
  });
}

/** What a VM job cannot be (yet), each refused in one line naming the option and what works. */
function refuseUnsupported(tokens: readonly SbatchToken[], config: SiteConfig, deps: VsbatchDeps, wrapWithScript: boolean): void {
  if (config.DISABLED_HOSTS_LIST !== '' && new RegExp(config.DISABLED_HOSTS_LIST).test(deps.hostname)) {
    throw new VtorqueError('NOT_SUPPORTED', 'vTorque is disabled on this host (DISABLED_HOSTS_LIST)', { fault: 'job' });
  }
  if (tokens.some((t) => t.kind === 'hetjob')) {
    throw new VtorqueError('NOT_SUPPORTED', 'heterogeneous jobs (":" between option groups) with --vm are not supported yet: expected one group of options', { fault: 'job' });
  }
  const missing = tokens.find((t) => t.kind === 'option' && t.missing);
  if (missing !== undefined) throw usage(`option ${missing.raw.join(' ')} requires a value: expected ${missing.raw[0]} VALUE`);
  if (wrapWithScript) throw usage('--wrap takes no script file (sbatch refuses it too): expected --wrap "command" or a script, not both');
}

/** sbatch's own refusals, made before anything is built, and what a VM job's header may hold. */
function checkScript(header: SbatchScriptHeader, text: string, name: string, tokens: readonly SbatchToken[], env: NodeJS.ProcessEnv): void {
  if (!header.shebang) throw usage(`${name} line 1: sbatch takes only a script whose first line starts with #! (the path to an interpreter): expected e.g. #!/bin/sh`);
  if (text.includes('\r\n')) throw usage(`${name}: DOS line breaks (\\r\\n), which sbatch refuses: expected UNIX line breaks (\\n)`);
  const broken = header.directives.find((d) => d.problem !== null);
  if (broken?.problem) throw usage(broken.problem);
  const ignorePbs = hasOption(tokens, 'ignore-pbs') || header.directives.some((d) => hasOption(d.parsed.tokens, 'ignore-pbs')) || (env.SBATCH_IGNORE_PBS ?? '') !== '';
  const foreign = header.foreign[0];
  if (foreign !== undefined && !ignorePbs) {
    throw usage(`${name} line ${foreign.lineNo}: ${displayValue(foreign.line)}: sbatch reads ${FOREIGN_PREFIXES.join('/')} lines too, and vsbatch cannot raise what they ask for the VMs: expected the same as an #SBATCH line, or --ignore-pbs`);
  }
}

function planSubmission(input: {
  config: SiteConfig;
  sbatch: string;
  tokens: readonly SbatchToken[];
  header: SbatchScriptHeader | null;
  scriptArgs: readonly string[];
  script: string;
  scriptName: string;
  wrap: boolean;
  specs: VmSpecs;
  deps: VsbatchDeps;
}): SbatchPlan {
  const { config, deps } = input;
  const { request, warnings } = submittedRequest(input.specs, config, deps.env, deps.cwd);
  const need = needPerNode(request, config);
  const directives = input.header?.directives ?? [];
  const raise = computeSlurmRaise(
    { commandLine: input.tokens, env: deps.env, script: directives.flatMap((d) => d.parsed.tokens) },
    { cpusPerNode: need.cpus, memMiBPerNode: need.memMiB },
  );

  const lines = directives.flatMap((d) => directiveLine(d.line, d.parsed.tokens, `${d.source} line ${d.lineNo}`));
  const wrapper = renderJobWrapper(
    { request, script: input.script, directiveLines: lines, nodePath: deps.nodePath, jobRunBundle: deps.layout.jobRunBundle, writer: 'vsbatch', scheduler: 'Slurm', schedulerEnv: 'slurm' },
    createRenderer(deps.layout.templates),
  );
  // sbatch reads the wrapper's header for directives: only the user's own may look like one.
  const read = wrapper.split('\n').filter((l) => l.startsWith(SBATCH_PREFIX) || FOREIGN_PREFIXES.some((p) => l.startsWith(p)));
  if (read.length !== lines.length) throw new VtorqueError('INTERNAL', 'the job wrapper holds a directive line vsbatch did not put there', { fault: 'node' });

  const options = sbatchWords(input.tokens.filter((t) => !(t.kind === 'option' && t.name === 'wrap')));
  const wrapperName = input.wrap ? 'wrap' : input.scriptName === 'STDIN' ? null : basename(input.scriptName);
  const comment = vmComment(input.tokens, directives.flatMap((d) => d.parsed.tokens));
  const args = [...options, ...raise.add, `--comment=${comment.value}`, ...(wrapperName === null ? [] : [WRAPPER_PLACEHOLDER, ...input.scriptArgs])];
  const notes = [...warnings, ...raise.notes.map((n) => `${n} for the VMs`), ...(comment.note === null ? [] : [comment.note])];
  return { sbatch: input.sbatch, args, request, wrapper, wrapperName, notes };
}

/**
 * The job's comment with vTorque's marker first: slurmd gives its Prolog the comment and little
 * else of the job, so this is how the node tells a VM job from a plain one without asking the
 * controller (the controller's copy of the script then decides). The user's own comment follows.
 */
function vmComment(commandLine: readonly SbatchToken[], script: readonly SbatchToken[]): { value: string; note: string | null } {
  // sbatch: the command line wins over #SBATCH lines, the last of each wins.
  const own = lastValue(commandLine, 'comment') ?? lastValue(script, 'comment') ?? '';
  if (own === '' || own === null) return { value: VM_COMMENT_MARKER, note: null };
  if (own.startsWith(VM_COMMENT_MARKER)) return { value: own, note: null };
  return { value: `${VM_COMMENT_MARKER} ${own}`, note: `the job's comment is "${VM_COMMENT_MARKER} ${own}": a VM job's comment starts with ${VM_COMMENT_MARKER}, which tells the nodes to boot its VMs` };
}

/** A directive for the wrapper: as written, or without its --vm words (sbatch does not know them); none when nothing is left. */
function directiveLine(line: string, tokens: readonly SbatchToken[], where: string): string[] {
  if (!tokens.some((t) => t.kind === 'own')) return [line];
  const words = tokens.filter((t) => t.kind !== 'own').flatMap((t) => t.raw);
  return words.length === 0 ? [] : [`${SBATCH_PREFIX} ${words.map((w) => quoteForDirective(w, where)).join(' ')}`];
}

/** One word for sbatch's directive reader: bare, or in the quote it does not contain. */
function quoteForDirective(word: string, where: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  if (!word.includes('"')) return `"${word}"`;
  if (!word.includes("'")) return `'${word}'`;
  throw usage(`${where}: ${displayValue(word)} holds both quote characters, which a #SBATCH line cannot carry next to --vm: expected the --vm on a line of its own`);
}



function ensureSbatch(path: string): void {
  if (!isExecutable(path)) throw new VtorqueError('QSUB_MISSING', `the configured sbatch ${path} is missing or not executable (SLURM_SBATCH)`, { fault: 'node' });
}

function usage(message: string): VtorqueError {
  return new VtorqueError('USAGE', message, { exitCode: VSUB_EXIT.usage, fault: 'job' });
}
