import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { decideDomainType, domainType, isTestUri, qemuLogPath } from './domain-type.js';
import type { EngineLog } from './log.js';

const log = (): EngineLog & { warnings: string[] } => {
  const warnings: string[] = [];
  return { warnings, info: () => undefined, warn: (f, m) => void warnings.push(`${m} ${JSON.stringify(f)}`) };
};
const works = async () => ({ ok: true, reason: 'ran', conclusive: true });
const hangs = async () => ({ ok: false, reason: 'kvm probe guest CPU time stuck at 0 ns', conclusive: true });
const daemonDown = async () => ({ ok: false, reason: 'cannot open qemu:///system: Failed to connect socket', conclusive: false });

describe('decideDomainType', () => {
  it('test URIs are always the test driver, without probing', async () => {
    const probe = vi.fn(works);
    expect(await decideDomainType('auto', 'test:///default', probe, log())).toBe('test');
    expect(await decideDomainType('kvm', 'test:///tmp/node.xml', probe, log())).toBe('test');
    expect(probe).not.toHaveBeenCalled();
    expect(isTestUri('qemu:///system')).toBe(false);
  });

  it('an explicit HYPERVISOR wins without probing', async () => {
    const probe = vi.fn(works);
    expect(await decideDomainType('qemu', 'qemu:///system', probe, log())).toBe('qemu');
    expect(await decideDomainType('kvm', 'qemu:///system', probe, log())).toBe('kvm');
    expect(probe).not.toHaveBeenCalled();
  });

  it('auto: kvm only when the probe guest ran; otherwise qemu with a warning naming the reason', async () => {
    expect(await decideDomainType('auto', 'qemu:///system', works, log())).toBe('kvm');
    const l = log();
    expect(await decideDomainType('auto', 'qemu:///system', hangs, l)).toBe('qemu');
    expect(l.warnings.join('\n')).toMatch(/using qemu \(TCG\).*CPU time stuck/);
  });
});

describe('domainType (probe cached under SPOOL_DIR/cache)', () => {
  it('probes once per hour and per URI', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'vtq-spool-'));
    let t = 1_000_000;
    const probe = vi.fn(hangs);
    const opts = { spoolDir, log: log(), probe, now: () => t };
    expect(await domainType('auto', 'qemu:///system', opts)).toBe('qemu');
    t += 59 * 60_000;
    expect(await domainType('auto', 'qemu:///system', opts)).toBe('qemu');
    expect(probe).toHaveBeenCalledTimes(1);
    expect(JSON.parse(readFileSync(join(spoolDir, 'cache', 'kvm-probe.json'), 'utf8'))).toMatchObject({ version: 1, uri: 'qemu:///system', ok: false });
    t += 2 * 60_000;
    await domainType('auto', 'qemu:///system', opts);
    expect(probe).toHaveBeenCalledTimes(2);
    await domainType('auto', 'qemu+ssh://root@n02/system', opts);
    expect(probe).toHaveBeenCalledTimes(3);
  });

  it('does not cache a passing failure (libvirtd down)', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'vtq-spool-'));
    const probe = vi.fn(daemonDown);
    expect(await domainType('auto', 'qemu:///system', { spoolDir, log: log(), probe })).toBe('qemu');
    expect(await domainType('auto', 'qemu:///system', { spoolDir, log: log(), probe })).toBe('qemu');
    expect(probe).toHaveBeenCalledTimes(2);
  });

  it('ignores a corrupt cache or one planted as a symlink, and replaces it', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'vtq-spool-'));
    mkdirSync(join(spoolDir, 'cache'));
    const victim = join(spoolDir, 'victim');
    writeFileSync(victim, JSON.stringify({ version: 1, uri: 'qemu:///system', ok: true, reason: 'forged', conclusive: true, checkedAt: Date.now() }));
    symlinkSync(victim, join(spoolDir, 'cache', 'kvm-probe.json'));
    const probe = vi.fn(hangs);
    expect(await domainType('auto', 'qemu:///system', { spoolDir, log: log(), probe })).toBe('qemu');
    expect(probe).toHaveBeenCalledTimes(1);
    expect(JSON.parse(readFileSync(victim, 'utf8')).reason).toBe('forged');
    writeFileSync(join(spoolDir, 'cache', 'kvm-probe.json'), '{not json');
    expect(await domainType('auto', 'qemu:///system', { spoolDir, log: log(), probe: works })).toBe('kvm');
  });
});

describe('qemuLogPath', () => {
  it("is the system driver's log of the domain; unknown for any other URI", () => {
    expect(qemuLogPath('qemu:///system', 'vtq-1.srv-n01-1')).toBe('/var/log/libvirt/qemu/vtq-1.srv-n01-1.log');
    expect(qemuLogPath('qemu+unix:///system?socket=/run/x.sock', 'd')).toBe('/var/log/libvirt/qemu/d.log');
    for (const uri of ['qemu:///session', 'qemu+ssh://root@n02/system', 'test:///default']) expect(qemuLogPath(uri, 'd'), uri).toBeNull();
  });
});
