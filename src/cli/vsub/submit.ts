import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadConfig, type SiteConfig } from '../../core/config/index.js';
import { displayValue, VtorqueError } from '../../core/errors.js';
import { listPoolImages } from '../../core/pool/images.js';
import { createRenderer } from '../../core/render/index.js';
import { applyPolicy, buildRequest, eligibleUserMetadata, parseVmSpecs, type VmRequest, type VmSpec, type VmSpecs } from '../../core/request/index.js';
import { optionWords, parseQsubArgs, readScriptHeader, type Directive, type ParsedQsubArgs, type ScriptHeader } from '../../torque/qsub/index.js';
import { VSUB_EXIT } from './exit-codes.js';
import { extractOwnOptions } from './own-options.js';
import { ensureExecutable, selectQsub } from './qsub-binary.js';
import { computeRaise, formatResourceList, mergeResourceLists } from './resources.js';
import { buildWrapper } from './wrapper.js';
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

export const WRAPPER_PLACEHOLDER = '<wrapper>';

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
    const late = lateVmNote(header, scriptName, parsed.directivePrefix, vmJob);
    if (late !== null) deps.err(`vsub: ${late}\n`);
  }

  if (!vmJob) {
    // Not a VM job: qsub with the argv exactly as given, and nothing printed of our own.
    if (own.dryRun) return printDry(deps, own.json, qsub, own.qsubArgv, null, null);
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
  if (own.dryRun) return printDry(deps, own.json, qsub, plan.args, plan.request, plan.wrapper);
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
  const raw = parseVmSpecs(input.specs);
  const pool = listPoolImages(config.VM_IMG_DIR).map((i) => i.name);
  const built = buildRequest(raw.entries, config, { cwd: deps.cwd, readFile: readUserFile, poolImages: pool }, {
    debug: isTrue(deps.env.DEBUG),
    trace: isTrue(deps.env.TRACE),
  });
  const { request, warnings } = applyPolicy(built.request, config, pool);
  // The prologue re-checks the values of the eligible cloud-config keys: refuse bad ones here already.
  if (request.metadata) eligibleUserMetadata(request.metadata.data);

  const scriptLists = input.directives.flatMap((d) => d.parsed.resourceLists);
  const current = mergeResourceLists([...scriptLists, ...parsed.resourceLists]);
  // Per node, whatever the node count: every node of the job gets vms_per_node VMs.
  const raise = computeRaise(current, {
    ppn: request.vcpus * request.vms_per_node + config.HOST_OS_CORE_COUNT + (request.iocm ? request.iocm_max_cores : 0),
    memMiBPerNode: request.ram * request.vms_per_node + config.HOST_OS_RAM_MB,
  });
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
  return { qsub: input.qsub, args, request, wrapper, wrapperName, notes: [...raw.warnings, ...warnings, ...raise.notes.map((n) => `${n} for the VMs`)] };
}

/** Write the wrapper into a private directory under the script's own name, submit, clean up. */
async function submitWrapper(plan: SubmissionPlan, deps: VsubDeps): Promise<number> {
  if (plan.wrapperName === null) return deps.runQsub(plan.qsub, plan.args, plan.wrapper);
  let dir: string;
  try {
    dir = mkdtempSync(join(deps.env.TMPDIR || tmpdir(), 'vsub-'));
  } catch (err) {
    throw new VtorqueError('INTERNAL', `cannot create a private temporary directory for the job wrapper: ${(err as Error).message}`, { exitCode: VSUB_EXIT.tempDir, cause: err, fault: 'node' });
  }
  try {
    const path = join(dir, plan.wrapperName);
    writeFileSync(path, plan.wrapper, { mode: 0o700, flag: 'wx' });
    return await deps.runQsub(plan.qsub, plan.args.map((a) => (a === WRAPPER_PLACEHOLDER ? path : a)), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printDry(deps: VsubDeps, json: boolean, qsub: string, args: readonly string[], request: VmRequest | null, wrapper: string | null): number {
  if (json) {
    deps.out(`${JSON.stringify({ qsub: [qsub, ...args], request, script: wrapper })}\n`);
    return VSUB_EXIT.ok;
  }
  deps.out(`would run: ${[qsub, ...args].map((a) => JSON.stringify(a)).join(' ')}\n`);
  if (request) deps.out(`request: ${JSON.stringify(request)}\n`);
  if (wrapper) deps.out(`wrapper (${WRAPPER_PLACEHOLDER}):\n${wrapper}`);
  return VSUB_EXIT.ok;
}

function readScriptFile(path: string, cwd: string): string {
  const full = path.startsWith('/') ? path : join(cwd, path);
  let st;
  try {
    st = statSync(full);
  } catch (err) {
    throw new VtorqueError('USAGE', `script file ${displayValue(path)} cannot be loaded - ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { fault: 'job' });
  }
  if (!st.isFile()) throw new VtorqueError('USAGE', `script file ${displayValue(path)} is not a regular file`, { fault: 'job' });
  return readFileSync(full, 'utf8');
}

/** A file a -vm key names, read as the submitting user: regular files of bounded size only. */
function readUserFile(path: string): string {
  const st = statSync(path);
  if (!st.isFile()) throw new Error('not a regular file');
  if (st.size > 64 * 1024 * 1024) throw new Error('too large');
  return readFileSync(path, 'utf8');
}

/**
 * qsub ignores every directive after the script's first command; a `-vm` one there is most likely
 * meant, so say that it is ignored (one line, however many there are).
 */
function lateVmNote(header: ScriptHeader, scriptName: string, prefix: string, vmJob: boolean): string | null {
  const [first, ...more] = header.lateVmLines;
  if (first === undefined) return null;
  const others = more.length === 0 ? '' : ` (and ${more.length} more after it)`;
  const effect = vmJob ? 'its keys are not used' : 'this job runs on the host, without a VM';
  return `${scriptName} line ${first}${others}: ${prefix} -vm comes after the first command (line ${header.firstCommand}), where qsub reads no more directives: ignored, ${effect}`;
}

function hasLong(parsed: ParsedQsubArgs, ...names: string[]): boolean {
  return parsed.tokens.some((t) => t.kind === 'long' && names.includes(t.raw[0] as string));
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value);
}
