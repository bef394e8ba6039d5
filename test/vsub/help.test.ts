import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/core/config/validate.js';
import { ACCEPTED, REQUEST_KEYS } from '../../src/core/request/index.js';
import { REQUEST_DEFAULTS, SIZE_KEYS } from '../../src/core/request/values.js';
import { makeSite, REPO, type TestSite } from '../helpers/site.js';
import { putScript, vsub } from '../helpers/vsub-harness.js';

// vsub --help (issue 10 §6): always works, lists vsub's own options and every -vm key from the parser's tables.
let site: TestSite;
const script = (name: string, text: string): string => putScript(site, name, text);
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const missingQsub = (): void => site.writeConfig({ PBS_QSUB_ON_NODES: '/nonexistent/qsub', PBS_QSUB_ON_FE: '/nonexistent/qsub' });

beforeEach(() => {
  site = makeSite();
});

describe('vsub --help', () => {
  it('works without qsub: own options, every -vm key with its accepted form and default, examples, where qsub is documented', async () => {
    missingQsub();
    const r = await vsub(site, ['--help']);
    expect(r.code).toBe(0);
    expect(r.qsub).toBeNull();
    expect(r.err).toBe('');
    for (const opt of ['-vm key=value', '--dry-run', '--json', '--config FILE', '--help']) expect(r.out).toContain(`\n  ${opt}`);
    const config = { ...defaultConfig(), VCPUS_DEFAULT: 1, RAM_DEFAULT: 512 };
    for (const key of REQUEST_KEYS) {
      const from = REQUEST_DEFAULTS[key];
      const line = new RegExp(`\\n  ${key}=\\s+${escapeRe(ACCEPTED[key] as string)}\\n\\s+default: (.*)\\n`);
      const m = line.exec(r.out);
      expect(m, `help lists ${key}`).not.toBeNull();
      expect(m?.[1]).toContain(from === null ? 'none' : `(${from})`);
      if (from !== null && typeof config[from] === 'number' && !SIZE_KEYS.includes(key)) expect(m?.[1]).toMatch(new RegExp(`^${config[from]} `));
    }
    expect(r.out).toContain('default: 512M (RAM_DEFAULT)');
    expect(r.out).toMatch(/\nExamples:\n  # .*\n  vsub .*-vm /);
    const last = r.out.trimEnd().split('\n').at(-1) as string;
    expect(last).toContain('man qsub');
    expect(last).toContain('/nonexistent/qsub');
  });

  it("shows the defaults a request really gets (the site's values)", async () => {
    site.writeConfig({ VCPUS_DEFAULT: 3, RAM_DEFAULT: 1500, VCPU_PINNING_DEFAULT: false, FILESYSTEM_TYPE_DEFAULT: 'ramdisk', IOCM_MIN_CORES_DEFAULT: 2, UNCLOT_SHMEM_DEFAULT: 300, VMS_PER_NODE_DEFAULT: 2 });
    const help = (await vsub(site, ['--help'])).out;
    script('job.sh', 'echo\n');
    const dry = await vsub(site, ['--dry-run', '--json', '-vm', 'arch=x86_64', 'job.sh']);
    const request = JSON.parse(dry.out).request as Record<string, unknown>;
    for (const key of REQUEST_KEYS) {
      const from = REQUEST_DEFAULTS[key];
      if (from === null) {
        expect(request[key]).toBeNull();
        continue;
      }
      const value = request[key];
      const shown = value === null ? 'none' : SIZE_KEYS.includes(key) ? `${value}M` : String(value);
      expect(help, key).toMatch(new RegExp(`\\n  ${key}=.*\\n\\s+default: ${escapeRe(shown)} \\(${from}\\)`));
    }
  });

  it("runs the configured qsub's --help after its own text, with empty stdin", async () => {
    const r = await vsub(site, ['--help']);
    expect(r.code).toBe(0);
    expect(r.qsub).toEqual({ file: site.qsub, args: ['--help'], input: '', fileText: null });
    expect(r.out.trimEnd().split('\n').at(-1)).toBe(`qsub's own options, all taken by vsub as qsub takes them (from ${site.qsub} --help):`);
  });

  it('a broken site config does not stop help: built-in defaults and one line saying why', async () => {
    writeFileSync(site.configPath, 'VCPUS_DEFAULT: many\nNO_SUCH_KEY: 1\n');
    const r = await vsub(site, ['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/defaults are vTorque's built-in ones, as the site config cannot be used: .*config\.yaml: (NO_SUCH_KEY|VCPUS_DEFAULT).* and 1 more problem/);
    expect(r.out).toContain(`default: ${defaultConfig().VCPUS_DEFAULT} (VCPUS_DEFAULT)`);
    writeFileSync(site.configPath, 'VCPUS_DEFAULT: [\n');
    expect((await vsub(site, ['--help'])).out).toContain('not valid YAML');
    expect((await vsub(site, ['--help', '--config', '/nonexistent/config.yaml'])).out).toContain('/nonexistent/config.yaml');
  });

  it.each([
    [['-N', 'x', '--help', '-vm', 'bogus=1', 'job.sh']],
    [['job.sh', '--help']],
    [['--json', '--help']],
    [['--help', '--config']],
    [['-vm', '--help']],
  ])('--help among other options %j: help only, nothing submitted', async (argv) => {
    script('job.sh', '#PBS -vm vcpus=1,vcpus=2\necho\n');
    const r = await vsub(site, argv);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: vsub /);
    expect(r.qsub?.args).toEqual(['--help']);
    expect(readdirSync(site.tmp)).toEqual([]);
  });

  it("-h is qsub's hold and --help after -- is a script name: neither is help", async () => {
    script('job.sh', 'echo\n');
    const hold = await vsub(site, ['-h', 'job.sh']);
    expect(hold.qsub?.args).toEqual(['-h', 'job.sh']);
    expect(hold.out).toBe('');
    const operand = await vsub(site, ['--', '--help']);
    expect(operand.out).not.toContain('usage: vsub');
    expect(operand.err).toContain('"--help" cannot be loaded');
  });

  it('the real bundle: help with no qsub and a broken config, and a reader that stops early is no error', async () => {
    missingQsub();
    writeFileSync(site.configPath, 'VCPUS_DEFAULT: [\n');
    const env = { PATH: process.env.PATH, VTORQUE_CONFIG: site.configPath };
    const r = spawnSync(join(REPO, 'bin', 'vsub'), ['--help'], { encoding: 'utf8', env, input: '' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const key of REQUEST_KEYS) expect(r.stdout).toContain(`\n  ${key}=`);
    // The reader closes before vsub (tens of ms to start) writes: every write meets EPIPE.
    const early = spawn(join(REPO, 'bin', 'vsub'), ['--help'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    early.stdout.destroy();
    let stderr = '';
    early.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
    const status = await new Promise<number | null>((resolve) => early.on('close', resolve));
    expect(stderr).toBe('');
    expect(status).toBe(0);
  });
});

