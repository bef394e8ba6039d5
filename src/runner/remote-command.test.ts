import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { remoteCommand } from './remote-command.js';

const sandbox = mkdtempSync(join(tmpdir(), 'vtq-remote-cmd-'));
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

describe('remoteCommand', () => {
  it('is fixed text around quoted values', () => {
    expect(remoteCommand({ workdir: "/home/a b/it's", envFile: '/var/spool/torque/vm/job.env', program: '/var/spool/torque/vm/job-script', args: ['x', 'y z', ''] })).toBe(
      "cd '/home/a b/it'\\''s' 2>/dev/null || cd; . /var/spool/torque/vm/job.env; exec /var/spool/torque/vm/job-script x 'y z' '' </dev/null",
    );
  });

  it('goes home when there is no PBS_O_WORKDIR', () => {
    expect(remoteCommand({ workdir: undefined, envFile: '/e', program: '/p', args: [] })).toBe('cd; . /e; exec /p </dev/null');
    expect(remoteCommand({ workdir: '', envFile: '/e', program: '/p', args: [] })).toBe('cd; . /e; exec /p </dev/null');
  });

  // What sshd does with it: `<login shell> -c <command>`.
  for (const shell of ['/bin/sh', '/bin/bash']) {
    it(`${shell} runs it with every argument intact and nothing injected`, () => {
      const dir = mkdtempSync(join(sandbox, 'run-'));
      const home = join(dir, 'home');
      const work = join(dir, `work 'dir' $(touch PWNED0)`);
      mkdirSync(home);
      mkdirSync(work);
      writeFileSync(join(dir, 'job.env'), "export FROM_ENV='sourced'\n");
      writeFileSync(join(dir, 'prog'), '#!/bin/sh\npwd\necho "$FROM_ENV"\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n', { mode: 0o755 });
      const args = ['$(touch PWNED1)', '`touch PWNED2`', "it's", 'a\nb', '*', '--x', ''];
      const command = remoteCommand({ workdir: work, envFile: join(dir, 'job.env'), program: join(dir, 'prog'), args });
      const r = spawnSync(shell, ['-c', command], { cwd: dir, env: { PATH: '/usr/bin:/bin', HOME: home }, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${work}\nsourced\n${args.map((a) => `[${a}]\n`).join('')}`);
      for (const i of [0, 1, 2]) for (const d of [dir, work, home]) expect(existsSync(join(d, `PWNED${i}`))).toBe(false);
    });
  }

  it('falls back to the home directory when PBS_O_WORKDIR does not exist, quietly', () => {
    const dir = mkdtempSync(join(sandbox, 'home-'));
    writeFileSync(join(dir, 'job.env'), '');
    const r = spawnSync('/bin/sh', ['-c', remoteCommand({ workdir: join(dir, 'gone'), envFile: join(dir, 'job.env'), program: '/bin/pwd', args: [] })], {
      env: { PATH: '/usr/bin:/bin', HOME: dir },
      encoding: 'utf8',
    });
    expect({ out: r.stdout, err: r.stderr }).toEqual({ out: `${dir}\n`, err: '' });
  });
});
