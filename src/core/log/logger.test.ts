import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, levelFor } from './logger.js';

const sink = () => {
  const lines: string[] = [];
  const stream = new Writable({ write: (c, _e, done) => { lines.push(String(c)); done(); } });
  return { lines, stream };
};

describe('logger', () => {
  it('writes JSON lines to the log dir and readable lines for humans', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-log-'));
    const human = sink();
    const log = createLogger({ component: 'prologue', level: 'info', logDir: dir, human: human.stream }).child({ jobId: '12.srv' });
    log.info({ phase: 'boot', elapsedMs: 1200 }, 'booting 2 VMs\ninjected line');
    log.debug('hidden at info');
    await new Promise((r) => setImmediate(r));
    const json = readFileSync(join(dir, 'prologue.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ level: 'info', component: 'prologue', jobId: '12.srv', phase: 'boot', msg: 'booting 2 VMs\ninjected line' });
    expect(human.lines).toHaveLength(1);
    expect(human.lines[0]).toMatch(/^\d\d:\d\d:\d\d prologue info: booting 2 VMs\\ninjected line jobId="12.srv" phase="boot" elapsedMs=1200\n$/);
  });

  it('never writes through a symlink planted at the log path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-log-'));
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'keep');
    symlinkSync(victim, join(dir, 'epilogue.log'));
    expect(() => createLogger({ component: 'epilogue', level: 'info', logDir: dir })).toThrow(/ELOOP/);
    expect(readFileSync(victim, 'utf8')).toBe('keep');
  });

  it('TRACE implies DEBUG, both override the configured level', () => {
    expect(levelFor('info', false, true)).toBe('trace');
    expect(levelFor('warn', true, false)).toBe('debug');
    expect(levelFor('warn', false, false)).toBe('warn');
  });
});
