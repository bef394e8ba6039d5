import { randomBytes } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DomainState, Hypervisor, type Domain } from '@unraid/libvirt';
import { withDeadline } from './deadline.js';

export interface ProbeResult {
  readonly ok: boolean;
  /** Why KVM is not usable, or what showed it works. */
  readonly reason: string;
  /** The answer is about this host (not a passing failure such as libvirtd being down): worth caching. */
  readonly conclusive: boolean;
}

export interface KvmProbeOptions {
  readonly kvmDevice?: string;
  /** How long the throw-away guest has to reach running with its CPU time advancing (default 3 s). */
  readonly limitMs?: number;
}

/**
 * Does a KVM guest really run here? /dev/kvm must exist, and a minimal transient domain of type
 * kvm (no disk, no network; the firmware finds nothing to boot and loops) must reach running
 * within `limitMs` with its CPU time advancing. The guest is destroyed in every case; its name
 * (`vtorque-kvm-probe-…`) never matches a job's `vtq-` prefix.
 */
export async function probeKvm(uri: string, options: KvmProbeOptions = {}): Promise<ProbeResult> {
  const { kvmDevice = '/dev/kvm', limitMs = 3000 } = options;
  try {
    await access(kvmDevice, constants.R_OK | constants.W_OK);
  } catch (err) {
    return { ok: false, reason: `${kvmDevice} is not usable: ${(err as Error).message}`, conclusive: true };
  }
  const hv = new Hypervisor({ uri });
  try {
    await withDeadline(hv.connectOpen(), 10_000, `libvirt open ${uri}`);
  } catch (err) {
    return { ok: false, reason: `cannot open ${uri}: ${(err as Error).message}`, conclusive: false };
  }
  const started = Date.now();
  const destroy = (d: Domain) => void d.destroy().catch(() => undefined);
  let dom: Domain | undefined;
  try {
    dom = await withDeadline(hv.domainCreateXML(probeXml()), limitMs, 'kvm probe: create', destroy);
    return await watch(dom, started + limitMs);
  } catch (err) {
    return { ok: false, reason: `kvm probe guest: ${(err as Error).message}`, conclusive: true };
  } finally {
    if (dom) await withDeadline(dom.destroy(), 5000, 'kvm probe: destroy').catch(() => undefined);
    await hv.connectClose().catch(() => undefined);
  }
}

/** Running by `until`, then CPU time advancing within the next second (or by `until`, if later). */
async function watch(dom: Domain, until: number): Promise<ProbeResult> {
  let first: { cpu: number; by: number } | null = null;
  for (;;) {
    const by: number = first?.by ?? until;
    const info = await withDeadline(dom.getInfo(), Math.max(1, by - Date.now()), 'kvm probe: getInfo');
    if (info.state === DomainState.RUNNING) {
      if (first === null) first = { cpu: info.cpuTime, by: Math.max(until, Date.now() + 1000) };
      else if (info.cpuTime > first.cpu) return { ok: true, reason: `guest running, CPU time ${first.cpu} -> ${info.cpuTime} ns`, conclusive: true };
    }
    if (Date.now() >= (first?.by ?? until)) {
      const what = first === null ? `never reached running (state ${DomainState[info.state] ?? info.state})` : `CPU time stuck at ${first.cpu} ns`;
      return { ok: false, reason: `kvm probe guest ${what}`, conclusive: true };
    }
    await sleep(100);
  }
}

function probeXml(): string {
  const name = `vtorque-kvm-probe-${process.pid}-${randomBytes(4).toString('hex')}`;
  return [
    `<domain type='kvm'>`,
    `  <name>${name}</name>`,
    `  <memory unit='MiB'>32</memory>`,
    `  <vcpu>1</vcpu>`,
    `  <os><type arch='x86_64'>hvm</type></os>`,
    `  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>`,
    `  <devices><memballoon model='none'/></devices>`,
    `</domain>`,
  ].join('\n');
}
