import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/site.js';
import { makeSlurmSite, type SlurmSite } from '../helpers/vsbatch-harness.js';

// Issue 16: every command's --help ends in examples a user or an admin can copy: each a "# why"
// line over one whole command line. The built bundles (dist/, which `npm test` builds first), run
// as the installed shims run them.
let site: SlurmSite;
const node = (bundle: string, args: string[]) =>
  spawnSync(process.execPath, [join(REPO, 'dist', `${bundle}.mjs`), ...args], { encoding: 'utf8', input: '', env: { PATH: process.env.PATH, VTORQUE_CONFIG: site.configPath } });

beforeAll(() => {
  site = makeSlurmSite();
  writeFileSync(join(site.cwd, 'job.sh'), '#!/bin/sh\nhostname\n');
});

interface Example {
  why: string;
  command: string;
}

/**
 * The examples of a help text: the lines from "Examples:" to the next blank line, as pairs of
 * "  # why" and "  command". Anything else there (a command broken over two lines, an example
 * without its explanation) fails, as does a help without examples.
 */
function examplesOf(help: string, program: string): Example[] {
  const lines = help.split('\n');
  const start = lines.indexOf('Examples:');
  expect(start, `${program}: no Examples section in\n${help}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l.trim() === '');
  const body = lines.slice(start + 1, end < 0 ? undefined : end);
  expect(body.length % 2, `${program}: examples come as "# why" over the command:\n${body.join('\n')}`).toBe(0);
  const examples: Example[] = [];
  for (let i = 0; i < body.length; i += 2) {
    const [why, command] = [body[i] as string, body[i + 1] as string];
    expect(why, `${program}: an example's explanation`).toMatch(/^ {2}# \S/);
    expect(command, `${program}: an example's command line`).toMatch(new RegExp(`^ {2}(?:\\S.*[\\s/|])?${program}( |$)`));
    for (const line of [why, command]) expect(line.length, `${program}: wider than a terminal: ${line}`).toBeLessThanOrEqual(80);
    examples.push({ why: why.slice(4), command: command.slice(2) });
  }
  return examples;
}

describe('vtorque: every command has copyable examples that use only its own options', () => {
  const help = new Map<string, string>();
  const helpOf = (command: string): string => {
    const cached = help.get(command);
    if (cached !== undefined) return cached;
    const r = node('vtorque', command === '' ? ['--help'] : [command, '--help']);
    expect(r.status, `vtorque ${command} --help: ${r.stderr}`).toBe(0);
    help.set(command, r.stdout);
    return r.stdout;
  };

  // The commands of main.ts (the hidden ones too, e.g. node-agent) and of the top-level help.
  const source = readFileSync(join(REPO, 'src', 'cli', 'vtorque', 'main.ts'), 'utf8');
  const commands = [...source.matchAll(/\.command\(\s*'([a-z][a-z-]*)/g)].map((m) => m[1] as string);

  it('main.ts and the top-level help name the same commands, node-agent hidden', () => {
    expect(commands).toEqual(expect.arrayContaining(['setup', 'config', 'run-local', 'doctor', 'gc', 'node-agent', 'sandbox', 'testbed', 'image']));
    const section = /\nCommands:\n([^]*?)\n\n/.exec(helpOf(''))?.[1] ?? '';
    const listed = [...section.matchAll(/^ {2}vtorque ([a-z][a-z-]*)/gm)].map((m) => m[1] as string);
    expect([...listed, 'node-agent'].sort()).toEqual([...commands].sort());
  });

  /** Every --option of a vtorque command line (before its " -- ") is one its command's help lists; its action is one of its choices. */
  const checkOptions = (line: string): void => {
    const m = /(?:^|[\s/])vtorque ([a-z][a-z-]*)(.*)$/.exec(line);
    expect(m, line).not.toBeNull();
    const [command, rest] = [m?.[1] as string, (m?.[2] as string).split(' -- ')[0]?.split(' > ')[0] as string];
    expect(commands, line).toContain(command);
    const own = helpOf(command);
    for (const [, name] of rest.matchAll(/(?:^|\s)--(?:no-)?([a-z][a-z-]*)/g)) expect(own, `${line}: --${name}`).toMatch(new RegExp(`\\n {2}--${name} `));
    const choices = /\n {2}action .*\[choices: ([^\]]+)\]/.exec(own)?.[1];
    if (choices !== undefined) expect(JSON.parse(`[${choices}]`), `${line}: the action`).toContain(rest.trim().split(' ')[0]);
  };

  it('vtorque --help: 2 to 4 examples, each a vtorque command', () => {
    const examples = examplesOf(helpOf(''), 'vtorque');
    expect(examples.length).toBeGreaterThanOrEqual(2);
    expect(examples.length).toBeLessThanOrEqual(4);
    for (const e of examples) checkOptions(e.command);
  });

  it.each(commands)('vtorque %s --help: 2 to 4 examples, one at least running it', (command) => {
    const examples = examplesOf(helpOf(command), 'vtorque');
    expect(examples.length).toBeGreaterThanOrEqual(2);
    expect(examples.length).toBeLessThanOrEqual(4);
    expect(examples.some((e) => new RegExp(`(^|[\\s/])vtorque ${command}( |$)`).test(e.command)), `an example runs vtorque ${command}`).toBe(true);
    for (const e of examples) checkOptions(e.command);
  });

  it('setup shows --slurm and --uninstall; doctor --slurm and --nodes; node-agent says it is internal', () => {
    const commandsOf = (c: string): string[] => examplesOf(helpOf(c), 'vtorque').map((e) => e.command);
    expect(commandsOf('setup')).toEqual(expect.arrayContaining([expect.stringMatching(/ --slurm /), expect.stringMatching(/ --uninstall /)]));
    expect(commandsOf('doctor')).toEqual(expect.arrayContaining([expect.stringMatching(/ --slurm$/), expect.stringMatching(/ --nodes /)]));
    expect(helpOf('node-agent')).toMatch(/^vtorque node-agent .*\n\ninternal, not for people/);
    expect(examplesOf(helpOf('node-agent'), 'vtorque')[0]?.why).toMatch(/^internal/);
  });
});

describe.each([
  ['vsub', /^vsub .*-vm .* job\.sh$/, /\| vsub /, /-l nodes=2 /],
  ['vsbatch', /^vsbatch .*--vm .* job\.sh/, /\| vsbatch /, /-N 2 /],
])('%s --help', (program, batch, stdin, multiNode) => {
  it('shows a batch job, a STDIN job, a multi-node job and --dry-run --json, each explained', () => {
    const r = node(program, ['--help']);
    expect(r.status).toBe(0);
    const commands = examplesOf(r.stdout, program).map((e) => e.command);
    for (const kind of [batch, stdin, multiNode, new RegExp(`^${program} --dry-run --json `)]) expect(commands, String(kind)).toEqual(expect.arrayContaining([expect.stringMatching(kind)]));
  });

  it('every example is accepted as it is written (run with --dry-run, so nothing is submitted)', () => {
    const examples = examplesOf(node(program, ['--help']).stdout, program);
    for (const { command } of examples) {
      const dry = command.includes('--dry-run') ? command : command.replace(`${program} `, `${program} --dry-run `);
      const r = spawnSync('sh', ['-c', dry], {
        cwd: site.cwd,
        encoding: 'utf8',
        env: { PATH: `${join(REPO, 'bin')}:${process.env.PATH}`, VTORQUE_CONFIG: site.configPath, TMPDIR: site.tmp },
      });
      expect(r.status, `${dry}: ${r.stderr}`).toBe(0);
      expect(r.stdout, dry).toMatch(/vcpus/);
    }
  });
});
