import { tmpdir } from 'node:os';
import { basename } from 'node:path';
import { loadConfig, type SiteConfig } from '../../core/config/index.js';
import { displayValue, VtorqueError } from '../../core/errors.js';
import { createRenderer } from '../../core/render/index.js';
import type { VmRequest, VmSpec, VmSpecs } from '../../core/request/index.js';
import { optionWords, parseQsubArgs, readScriptHeader, type Directive, type ParsedQsubArgs } from '../../torque/qsub/index.js';
import { VSUB_EXIT } from './exit-codes.js';
import { extractOwnOptions } from './own-options.js';
import { ensureExecutable, selectQsub } from './qsub-binary.js';
import { computeRaise, formatResourceList, mergeResourceLists } from './resources.js';
import { buildWrapper } from './wrapper.js';
import { readScriptFile, withPrivateFile } from '../shared/files.js';
import { lateVmNote, printDryRun, WRAPPER_PLACEHOLDER } from '../shared/dry-run.js';
import { needPerNode, submittedRequest } from '../shared/request.js';
import type { VsubDeps } from './deps.js';

export type { VsubDeps };

/** What a VM submission amounts to, before anything is written: the dry run prints exactly this. */
export interface SubmissionPlan {
  readonly qsub: string;
  readonly args: readonly string[];
  readonly request: VmRequest;
  readonly wrapper: string;
  /** Basename the wrapper file gets (so Torque names outputs as for the user's script); null = STDIN job. */
  readonly wrapperName: string | null;
  readonly notes: readonly string[];
}

export { WRAPPER_PLACEHOLDER };

export async function runVsub(argv: readonly string[], deps: VsubDeps): Promise<number> {
  const own = extractOwnOptions(argv);
  // Help needs neither qsub nor a valid site config; its module is loaded only when asked for.
  if (own.help) return (await import('./help.js')).printHelp(own, deps);
  const { config } = loadConfig({ path: own.configPath, env: deps.env });
  const qsub = selectQsub(config, deps.hostname);
  const parsed = parseQsubArgs(own.qsubArgv);

  // The script is read only when it may hold `#PBS -vm` lines; stdin that we read is handed on.
  let stdinText: string | null = null;
  let scriptText: string | null = null;
  if (parsed.script !== null) scriptText = readScriptFile(parsed.script, deps.cwd);
  else if (!parsed.interactive && !hasLong(parsed, '--version', '--about')) scriptText = stdinText = await deps.readStdin();

  const scriptName = parsed.script ?? 'STDIN';
  const header = scriptText === null ? null : readScriptHeader(scriptText, parsed.directivePrefix, scriptName);
  const directives = header?.directives ?? [];
  const specs: VmSpecs = {
    script: directives.flatMap((d) => d.parsed.vmSpecs.map((text): VmSpec => ({ text, source: `${scriptName} line ${d.lineNo}` }))),
    commandLine: parsed.vmSpecs.map((text): VmSpec => ({ text, source: '-vm' })),
  };
  const vmJob = specs.script.length > 0 || specs.commandLine.length > 0;
  if (header !== null) {
    const late = lateVmNote(header.lateVmLines, header.firstCommand, scriptName, `${parsed.directivePrefix} -vm`, 'qsub', vmJob);
    if (late !== null) deps.err(`vsub: ${late}\n`);
  }

  if (!vmJob) {
    // Not a VM job: qsub with the argv exactly as given, and nothing printed of our own.
    if (own.dryRun) return printDryRun(deps.out, own.json, 'qsub', [qsub, ...own.qsubArgv], null, null);
    ensureExecutable(qsub);
    return deps.runQsub(qsub, own.qsubArgv, stdinText);
  }

  if (config.DISABLED_HOSTS_LIST !== '' && new RegExp(config.DISABLED_HOSTS_LIST).test(deps.hostname)) {
    throw new VtorqueError('NOT_SUPPORTED', 'vTorque is disabled on this host (DISABLED_HOSTS_LIST)', { fault: 'job' });
  }
  if (parsed.interactive) {
    throw new VtorqueError('NOT_SUPPORTED', 'interactive VM jobs (-I with -vm) are not supported yet; submit a batch script instead', { fault: 'job' });
  }
  if (parsed.extraOperands.length > 0) {
    throw new VtorqueError('USAGE', `unexpected argument after the job script: ${displayValue(parsed.extraOperands[0])} (use -F "args" for script arguments)`, { exitCode: VSUB_EXIT.usage, fault: 'job' });
  }

  const plan = planSubmission({ config, qsub, parsed, directives, specs, script: scriptText ?? '', deps });
  for (const note of plan.notes) deps.err(`vsub: ${note}\n`);
  if (own.dryRun) return printDryRun(deps.out, own.json, 'qsub', [qsub, ...plan.args], plan.request, plan.wrapper);
  ensureExecutable(qsub);
  return submitWrapper(plan, deps);
}

function planSubmission(input: {
  config: SiteConfig;
  qsub: string;
  parsed: ParsedQsubArgs;
  directives: readonly Directive[];
  specs: VmSpecs;
  script: string;
  deps: VsubDeps;
}): SubmissionPlan {
  const { config, parsed, deps } = input;
  const { request, warnings } = submittedRequest(input.specs, config, deps.env, deps.cwd);

  const scriptLists = input.directives.flatMap((d) => d.parsed.resourceLists);
  const current = mergeResourceLists([...scriptLists, ...parsed.resourceLists]);
  // Per node, whatever the node count: every node of the job gets vms_per_node VMs.
  const need = needPerNode(request, config);
  const raise = computeRaise(current, { ppn: need.cpus, memMiBPerNode: need.memMiB });
  const extra: string[] = [];
  if (raise.set.size > 0) extra.push('-l', formatResourceList(raise.set));
  const hasExclusive = [parsed, ...input.directives.map((d) => d.parsed)].some((p) =>
    p.tokens.some((t) => t.kind === 'option' && (t.letter === 'n' || t.letter === 'E')),
  );
  if (config.PBS_EXCLUSIVE_NODE_ALLOC && !hasExclusive) extra.push('-n');

  const wrapper = buildWrapper(
    {
      request,
      script: input.script,
      directives: input.directives,
      directivePrefix: parsed.directivePrefix,
      nodePath: deps.nodePath,
      jobRunBundle: deps.layout.jobRunBundle,
    },
    createRenderer(deps.layout.templates),
  );
  const wrapperName = parsed.script === null ? null : basename(parsed.script);
  const args = [...optionWords(parsed), ...extra, ...(wrapperName === null ? [] : [WRAPPER_PLACEHOLDER])];
  return { qsub: input.qsub, args, request, wrapper, wrapperName, notes: [...warnings, ...raise.notes.map((n) => `${n} for the VMs`)] };
}

/** Write the wrapper into a private directory under the script's own name, submit, clean up. */
async function submitWrapper(plan: SubmissionPlan, deps: VsubDeps): Promise<number> {
  if (plan.wrapperName === null) return deps.runQsub(plan.qsub, plan.args, plan.wrapper);
  return withPrivateFile(deps.env.TMPDIR || tmpdir(), 'vsub-', plan.wrapperName, plan.wrapper, (path) =>
    deps.runQsub(plan.qsub, plan.args.map((a) => (a === WRAPPER_PLACEHOLDER ? path : a)), null),
  );
}



function hasLong(parsed: ParsedQsubArgs, ...names: string[]): boolean {
  return parsed.tokens.some((t) => t.kind === 'long' && names.includes(t.raw[0] as string));
}
