import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VtorqueError } from '../core/errors.js';
import { checkSlurmSettings, expandGlob, parseShowConfig, runShowConfig, slurmHookSettings, type HookFs, type SlurmHookSettings } from './slurm-config.js';

/** `scontrol show config` of slurm-wlm 22.05.8 (Debian 12), trimmed: every line kept is verbatim, in order. */
const REAL = readFileSync(new URL('./testdata/show-config-22.05.txt', import.meta.url), 'utf8');

const tmp = mkdtempSync(join(tmpdir(), 'vtq-slurm-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseShowConfig', () => {
  it('reads the real output: every pair of the main block, the header and the controller status left out', () => {
    const map = parseShowConfig(REAL);
    expect(map.get('Prolog')).toBe('/tmp/slx/hooks/prolog');
    expect(map.get('Epilog')).toBe('/tmp/slx/hooks/epilog');
    expect(map.get('PrologFlags')).toBe('Alloc');
    expect(map.get('PrologEpilogTimeout')).toBe('65534');
    expect(map.get('SlurmdUser')).toBe('root(0)');
    expect(map.get('SlurmctldHost[0]')).toBe('vm(10.213.50.1)');
    expect(map.get('TaskPluginParam')).toBe('(null type)');
    expect(map.get('PowerPlugin')).toBe(''); // printed as `PowerPlugin             = ` (an empty string)
    expect(map.get('SLURM_VERSION')).toBe('22.05.8');
    expect([...map.keys()].some((k) => k.startsWith('Configuration') || k.startsWith('Slurmctld('))).toBe(false);
    expect(map.size).toBe(REAL.split('\n').filter((l) => l.includes(' = ')).length);
  });

  it('stops at the first blank line: the trailing plugin sections use the same Key = value form', () => {
    const text = `${REAL.replace(/\n\nSlurmctld\(primary\).*\n?$/, '')}\n\nCgroup Support Configuration:\nCgroupAutomount         = yes\nProlog                  = /not/this\n\nSlurmctld(primary) at vm is UP\n`;
    const map = parseShowConfig(text);
    expect(map.get('Prolog')).toBe('/tmp/slx/hooks/prolog');
    expect(map.has('CgroupAutomount')).toBe(false);
  });

  it('long keys (one blank before =), CRLF, no header, nothing at all', () => {
    expect(parseShowConfig('AccountingStorageExternalHost = (null)\r\nEpilog = /x\r\n')).toEqual(new Map([['AccountingStorageExternalHost', '(null)'], ['Epilog', '/x']]));
    expect(parseShowConfig('').size).toBe(0);
    expect(parseShowConfig('slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure)\n').size).toBe(0);
  });
});

describe('slurmHookSettings', () => {
  const settings = (over: Record<string, string>): SlurmHookSettings => slurmHookSettings(new Map([...parseShowConfig(REAL), ...Object.entries(over)]));

  it('the real sample', () => {
    expect(slurmHookSettings(parseShowConfig(REAL))).toEqual({
      prolog: '/tmp/slx/hooks/prolog',
      epilog: '/tmp/slx/hooks/epilog',
      prologFlags: ['Alloc'],
      prologEpilogTimeoutSeconds: null,
      slurmdUser: 'root',
      slurmdUid: 0,
      credExpireSeconds: 120,
    });
  });

  it("AuthInfo's cred_expire, Slurm's 120 s when not set", () => {
    expect(settings({ AuthInfo: 'cred_expire=15' }).credExpireSeconds).toBe(15);
    expect(settings({ AuthInfo: 'socket=/run/munge/munge.socket.2,cred_expire=300' }).credExpireSeconds).toBe(300);
    expect(settings({ AuthInfo: '(null)' }).credExpireSeconds).toBe(120);
  });

  it('PrologEpilogTimeout: seconds, or null when slurmd waits forever (65534 = unset, 0, or a word)', () => {
    expect(settings({ PrologEpilogTimeout: '300' }).prologEpilogTimeoutSeconds).toBe(300);
    expect(settings({ PrologEpilogTimeout: '300 sec' }).prologEpilogTimeoutSeconds).toBe(300);
    expect(settings({ PrologEpilogTimeout: '65535' }).prologEpilogTimeoutSeconds).toBe(65535); // INFINITE16 is a real 18 h bound
    for (const v of ['65534', '0', '(null)', 'NONE', 'UNLIMITED']) expect(settings({ PrologEpilogTimeout: v }).prologEpilogTimeoutSeconds).toBeNull();
    const map = new Map(parseShowConfig(REAL));
    map.delete('PrologEpilogTimeout');
    expect(slurmHookSettings(map).prologEpilogTimeoutSeconds).toBeNull();
  });

  it('(null) hooks and flags, several flags, another SlurmdUser', () => {
    const s = settings({ Prolog: '(null)', Epilog: '', PrologFlags: 'Alloc,Contain,X11', SlurmdUser: 'slurm(64030)' });
    expect(s).toMatchObject({ prolog: null, epilog: null, prologFlags: ['Alloc', 'Contain', 'X11'], slurmdUser: 'slurm', slurmdUid: 64030 });
    expect(settings({ PrologFlags: '(null)' }).prologFlags).toEqual([]);
    const map = new Map(parseShowConfig(REAL));
    map.delete('SlurmdUser');
    expect(slurmHookSettings(map)).toMatchObject({ slurmdUser: '', slurmdUid: null });
  });
});

/** A file system of these paths: directories map to their entries, files to what they resolve to (themselves, or a link's target). */
function fakeFs(tree: Record<string, readonly string[] | string | null>): HookFs {
  return {
    readdir: (dir) => {
      const v = tree[dir];
      return v === undefined || typeof v === 'string' ? [] : v;
    },
    realpath: (path) => {
      const v = tree[path];
      return v === undefined ? null : typeof v === 'string' ? v : path;
    },
  };
}

const OURS = { prologPath: '/opt/vtorque/lib/vtorque/hooks/slurm-prolog', epilogPath: '/opt/vtorque/lib/vtorque/hooks/slurm-epilog', prologueTimeoutSeconds: 280, teardownTimeoutSeconds: 60 };
const INSTALLED = { [OURS.prologPath]: OURS.prologPath, [OURS.epilogPath]: OURS.epilogPath };
const FIT: SlurmHookSettings = { prolog: OURS.prologPath, epilog: OURS.epilogPath, prologFlags: ['Alloc'], prologEpilogTimeoutSeconds: 300, slurmdUser: 'root', slurmdUid: 0, credExpireSeconds: 120 };
const check = (over: Partial<SlurmHookSettings>, tree: Record<string, readonly string[] | string | null> = {}) => checkSlurmSettings({ ...FIT, ...over }, OURS, fakeFs({ ...INSTALLED, ...tree }));
const fails = (over: Partial<SlurmHookSettings>, tree?: Record<string, readonly string[] | string | null>) => check(over, tree).filter((f) => f.level !== 'ok');

describe('checkSlurmSettings', () => {
  it('a fit slurmd: every finding ok', () => {
    expect(check({})).toEqual([
      { level: 'ok', message: 'SlurmdUser root(0): slurmd runs the Prolog and Epilog as root' },
      { level: 'ok', message: 'PrologFlags Alloc: the Prolog runs at allocation' },
      { level: 'ok', message: `Prolog ${OURS.prologPath}: vTorque's prolog` },
      { level: 'ok', message: `Epilog ${OURS.epilogPath}: vTorque's epilog` },
      { level: 'ok', message: 'PrologEpilogTimeout 300 s covers PROLOGUE_TIMEOUT 280 s + 15 and TEARDOWN_TIMEOUT 60 s + 5' },
    ]);
  });

  it('SlurmdUser not root: fail, the prolog must run as root', () => {
    expect(fails({ slurmdUser: 'slurm', slurmdUid: 64030 })).toEqual([
      { level: 'fail', message: 'SlurmdUser is "slurm(64030)", not root: slurmd runs the Prolog and Epilog as its own user, and vTorque\'s prolog must run as root (it starts the job\'s VMs); set SlurmdUser=root (the default) in slurm.conf' },
    ]);
  });

  it('PrologFlags without Alloc: fail, the VMs would not be booted before the batch script starts', () => {
    const [f] = fails({ prologFlags: [] });
    expect(f?.level).toBe('fail');
    expect(f?.message).toMatch(/^PrologFlags is empty, without Alloc: slurmd then runs the Prolog at a job's first step on each node, not at allocation, so the job's VMs would not be booted before the batch script starts .*; set PrologFlags=Alloc in slurm.conf/);
    expect(fails({ prologFlags: ['NoHold'] })[0]?.message).toMatch(/^PrologFlags is NoHold, without Alloc/);
    expect(fails({ prologFlags: ['Alloc', 'Contain'] })).toEqual([]);
  });

  it('Prolog or Epilog unset, or another script: fail, with what to set', () => {
    expect(fails({ prolog: null })).toEqual([
      { level: 'fail', message: `Prolog is not set, so slurmd runs none: set Prolog=${OURS.prologPath} in slurm.conf, or a directory glob (Prolog=/etc/slurm/prolog.d/*) with vTorque's prolog linked into it, then scontrol reconfigure` },
    ]);
    expect(fails({ epilog: '/etc/slurm/epilog' }, { '/etc/slurm/epilog': '/etc/slurm/epilog' })).toEqual([
      {
        level: 'fail',
        message: `Epilog is /etc/slurm/epilog, not vTorque's epilog (${OURS.epilogPath}): set Epilog=${OURS.epilogPath} in slurm.conf, or, to keep the site's own epilog, a directory glob (Epilog=/etc/slurm/epilog.d/*) with both linked into it; then scontrol reconfigure`,
      },
    ]);
  });

  it('a path that is a link to ours is ours', () => {
    expect(check({ prolog: '/etc/slurm/prolog' }, { '/etc/slurm/prolog': OURS.prologPath })[2]).toEqual({ level: 'ok', message: `Prolog /etc/slurm/prolog: vTorque's prolog (a link to ${OURS.prologPath})` });
  });

  it('our hook missing from the install: fail (slurmd would drain the node)', () => {
    const f = checkSlurmSettings(FIT, OURS, fakeFs({ [OURS.epilogPath]: OURS.epilogPath })).filter((x) => x.level === 'fail');
    expect(f.map((x) => x.message)).toEqual([`vTorque's prolog ${OURS.prologPath} does not exist: install vTorque's Slurm hooks before slurmd runs them (a missing Prolog fails every job's Prolog and drains the node)`]);
  });

  it('a glob: ok when it matches ours (a link in its directory), fail with the ln to run when not, warn when its directory cannot be read', () => {
    const dir = '/etc/slurm/prolog.d';
    expect(check({ prolog: `${dir}/*` }, { [dir]: ['10-site', '50-vtorque'], [`${dir}/10-site`]: `${dir}/10-site`, [`${dir}/50-vtorque`]: OURS.prologPath })[2]).toEqual({
      level: 'ok',
      message: `Prolog is the glob ${dir}/*; it matches vTorque's prolog (${dir}/50-vtorque → ${OURS.prologPath})`,
    });
    expect(fails({ prolog: `${dir}/*` }, { [dir]: ['10-site'], [`${dir}/10-site`]: `${dir}/10-site` })).toEqual([
      { level: 'fail', message: `Prolog is the glob ${dir}/*, and the admin must link vTorque's prolog into that directory: it matches ${dir}/10-site, not vTorque's prolog; fix: ln -s ${OURS.prologPath} ${dir}/vtorque` },
    ]);
    expect(fails({ epilog: '/etc/slurm/epilog.d/*.sh' })[0]?.message).toBe(
      `Epilog is the glob /etc/slurm/epilog.d/*.sh, and the admin must link vTorque's epilog into that directory: it matches nothing (slurmd then fails every job's Epilog and drains the node), not vTorque's epilog; fix: ln -s ${OURS.epilogPath} /etc/slurm/epilog.d/vtorque.sh`,
    );
    expect(fails({ prolog: `${dir}/*` }, { [dir]: null })).toEqual([
      { level: 'warn', message: `Prolog is the glob ${dir}/*: the admin must link vTorque's prolog into that directory (ln -s ${OURS.prologPath} ${dir}/vtorque); cannot read ${dir} here to check that it is` },
    ]);
  });

  it('PrologEpilogTimeout: unlimited warns; below PROLOGUE_TIMEOUT + 15 or TEARDOWN_TIMEOUT + 5 fails with the value to set', () => {
    expect(fails({ prologEpilogTimeoutSeconds: null })).toEqual([
      {
        level: 'warn',
        message: "PrologEpilogTimeout is unlimited: a hung Prolog or Epilog would hold the node forever; vTorque's prolog ends itself at PROLOGUE_TIMEOUT (280 s) and its epilog at TEARDOWN_TIMEOUT (60 s), so PrologEpilogTimeout=295 would be a safe bound for every hook",
      },
    ]);
    expect(fails({ prologEpilogTimeoutSeconds: 294 })).toEqual([
      { level: 'fail', message: "PrologEpilogTimeout 294 s is below PROLOGUE_TIMEOUT 280 s + 15: slurmd would SIGTERM vTorque's prolog while the job's VMs boot and drain the node; set PrologEpilogTimeout=295 (or more) in slurm.conf" },
    ]);
    expect(check({ prologEpilogTimeoutSeconds: 295 }).at(-1)?.level).toBe('ok');
    expect(fails({ prologEpilogTimeoutSeconds: 30 }).map((f) => f.message)).toEqual([
      "PrologEpilogTimeout 30 s is below PROLOGUE_TIMEOUT 280 s + 15: slurmd would SIGTERM vTorque's prolog while the job's VMs boot and drain the node; set PrologEpilogTimeout=295 (or more) in slurm.conf",
      "PrologEpilogTimeout 30 s is below TEARDOWN_TIMEOUT 60 s + 5: slurmd would SIGTERM vTorque's epilog while it tears the job's VMs down and drain the node; set PrologEpilogTimeout=295 (or more) in slurm.conf",
    ]);
    // A teardown longer than the prologue sets the value to ask for.
    expect(checkSlurmSettings({ ...FIT, prologEpilogTimeoutSeconds: 100 }, { ...OURS, prologueTimeoutSeconds: 60, teardownTimeoutSeconds: 120 }, fakeFs(INSTALLED)).at(-1)?.message).toMatch(/below TEARDOWN_TIMEOUT 120 s \+ 5: .*set PrologEpilogTimeout=125 /);
  });
});

describe('expandGlob: what slurmd\'s glob(3) would match', () => {
  const fs = fakeFs({ '/d': ['b.sh', 'a.sh', '.hidden.sh', 'c', 'sub'], '/d/a.sh': '/d/a.sh', '/d/b.sh': '/d/b.sh', '/d/.hidden.sh': '/d/.hidden.sh', '/d/c': '/d/c', '/d/sub': ['x'], '/d/sub/x': '/d/sub/x' });
  it('* ? [...] [!...], no leading dot, sorted; a directory segment', () => {
    expect(expandGlob('/d/*.sh', fs).matches).toEqual(['/d/a.sh', '/d/b.sh']);
    expect(expandGlob('/d/?', fs).matches).toEqual(['/d/c']);
    expect(expandGlob('/d/[ab].sh', fs).matches).toEqual(['/d/a.sh', '/d/b.sh']);
    expect(expandGlob('/d/[!a]*', fs).matches).toEqual(['/d/b.sh', '/d/c', '/d/sub']);
    expect(expandGlob('/d/.*.sh', fs).matches).toEqual(['/d/.hidden.sh']);
    expect(expandGlob('/d/*/x', fs).matches).toEqual(['/d/sub/x']);
    expect(expandGlob('/nope/*', fs)).toEqual({ matches: [], unreadable: [] });
  });
});

describe('runShowConfig', () => {
  const fake = (name: string, body: string): string => {
    const path = join(tmp, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  it('runs `<scontrol> show config` without a shell, with SLURM_CONF when given', async () => {
    const scontrol = fake('scontrol-ok', 'echo "Configuration data as of x"; echo "ARGS = $*"; echo "SLURM_CONF = ${SLURM_CONF-unset}"');
    expect(parseShowConfig(await runShowConfig(scontrol, '/etc/slurm/other.conf', 5000))).toEqual(new Map([['ARGS', 'show config'], ['SLURM_CONF', '/etc/slurm/other.conf']]));
    const saved = process.env.SLURM_CONF;
    delete process.env.SLURM_CONF;
    try {
      expect(parseShowConfig(await runShowConfig(scontrol, '', 5000)).get('SLURM_CONF')).toBe('unset');
    } finally {
      if (saved !== undefined) process.env.SLURM_CONF = saved;
    }
  });

  it('a failure is the node\'s, in one line: scontrol\'s last word, its exit, the keys to check', async () => {
    const scontrol = fake('scontrol-down', 'echo "slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure)" >&2; exit 1');
    const err = await runShowConfig(scontrol, '', 5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VtorqueError);
    expect(err).toMatchObject({ code: 'COMMAND_FAILED', fault: 'node' });
    expect((err as Error).message).toBe(
      `cannot read Slurm's configuration: ${scontrol} show config: exit code 1: slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure); check SLURM_SCONTROL and SLURM_CONF in the vTorque config, and that slurmctld answers`,
    );
  });

  const failure = (p: Promise<string>): Promise<Error> => p.then(() => new Error('no failure'), (e: unknown) => e as Error);

  it('scontrol missing, or retrying past the bound (an unreadable slurm.conf makes it retry for 60 s)', async () => {
    const missing = await failure(runShowConfig(join(tmp, 'no-scontrol'), '/etc/slurm/slurm.conf', 5000));
    expect(missing.message).toMatch(/^cannot read Slurm's configuration: \S+no-scontrol show config \(SLURM_CONF=\/etc\/slurm\/slurm.conf\): cannot be started: spawn \S+ ENOENT; check /);
    const slow = fake('scontrol-retry', 'echo "scontrol: error: s_p_parse_file: cannot stat file /x/slurm.conf: No such file or directory, retrying in 1sec up to 60sec" >&2; exec sleep 30');
    const t0 = Date.now();
    const err = await failure(runShowConfig(slow, '/x/slurm.conf', 500));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err.message).toMatch(/: no answer within 500 ms: scontrol: error: s_p_parse_file: cannot stat file \/x\/slurm.conf: .*retrying in 1sec up to 60sec; check /);
    expect(err.message).not.toContain('\n');
  });
});
