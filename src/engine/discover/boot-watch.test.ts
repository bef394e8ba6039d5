import { describe, expect, it } from 'vitest';
import { BootWatch, type CpuSample } from './boot-watch.js';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';

function setup(limits = { ip: 20_000, ssh: 10_000 }) {
  let now = 1000;
  const sizes = new Map<string, number | null>([['/a.log', null], ['/b.log', null]]);
  const asked: (number | undefined)[] = [];
  const cpu = new Map<string, CpuSample>();
  const watch = new BootWatch(
    [
      { name: 'vtq-1-n01-1', node: 'n01', mac: A.toUpperCase(), consoleLog: '/a.log' },
      { name: 'vtq-1-n01-2', node: 'n01', mac: B, consoleLog: '/b.log' },
    ],
    {
      startedMs: 1000,
      now: () => now,
      consoleSize: (p) => sizes.get(p) ?? null,
      cpuTime: (vm) => cpu.get(vm) ?? null,
      limit: (phase, ipTookMs) => {
        asked.push(ipTookMs);
        return { ms: limits[phase], why: `${phase} limit` };
      },
    },
  );
  /** The head's background reading of a VM's qemu CPU time, taken now. */
  const readCpu = (vm: string, ms: number) => cpu.set(vm, { ms, atMs: now });
  return { watch, sizes, asked, cpu, readCpu, advance: (ms: number) => (now += ms) };
}

describe('BootWatch', () => {
  it('a VM whose console keeps growing is never dead; one quiet for its limit is, naming its last sign of life', () => {
    const { watch, sizes, advance } = setup();
    for (let i = 1; i <= 10; i++) {
      advance(15_000); // 150 s in all, far past the 20 s limit, but a sign of life every 15 s
      sizes.set('/a.log', i * 1000);
      watch.poll();
      expect(watch.dead(A)).toBeNull();
    }
    // B showed nothing at all: dead since 20 s after the start.
    expect(watch.dead(B)).toMatch(/^no sign of life for 150.0 s \(last: started; limit 20.0 s = ip limit\)$/);
    advance(19_000);
    watch.poll();
    expect(watch.dead(A)).toBeNull();
    advance(1000);
    expect(watch.dead(A)).toMatch(/^no sign of life for 20.0 s \(last: console grew to 9.8 KiB; limit 20.0 s = ip limit\)$/);
  });

  it('an address, the SSH wait and each SSH stage are signs of life; the SSH phase asks for its limit with the time the address took', () => {
    const { watch, asked, advance } = setup();
    advance(15_000);
    watch.found(A, '10.0.0.5', 'ARP');
    advance(60_000); // waiting for the other VM: never dead for quietness
    expect(watch.dead(A)).toBeNull();
    watch.beginSsh(A);
    expect(watch.dead(A)).toBeNull();
    expect(asked.at(-1)).toBe(15_000);
    advance(9000);
    watch.sshProgress(A, 'port 22 refused (the guest kernel answers)');
    advance(9000);
    watch.sshResult(A, 'connect ECONNREFUSED 10.0.0.5:22'); // the same outcome again: no sign of life
    expect(watch.dead(A)).toBeNull();
    advance(1000);
    expect(watch.dead(A)).toMatch(/no sign of life for 10.0 s \(last: SSH: port 22 refused/);
    watch.ready(A);
    expect(watch.dead(A)).toBeNull();
    expect(watch.times(A)).toEqual({ ipMs: 15_000, sshMs: 19_000 });
    expect(watch.times(B)).toBeNull();
    expect(watch.waiting().map((v) => v.name)).toEqual(['vtq-1-n01-2']);
  });

  it('every SSH login is a sign of life, so a guest whose cloud-init runs long is not given up while it lets us in', () => {
    const { watch, advance } = setup();
    watch.found(A, '10.0.0.5', 'ARP');
    watch.beginSsh(A);
    watch.sshProgress(A, 'login');
    for (let i = 0; i < 5; i++) {
      advance(9000);
      watch.sshResult(A, 'logged in; cloud-init not finished yet');
      watch.sshLoggedIn(A);
      expect(watch.dead(A)).toBeNull();
    }
    // Logins stop (sshd restarted and did not come back): the quiet limit applies again.
    advance(10_000);
    expect(watch.dead(A)).toMatch(/no sign of life for 10.0 s \(last: SSH login;/);
  });

  it('a lost address puts the VM back to finding one, with a fresh quiet window', () => {
    const { watch, advance } = setup();
    watch.found(B, '10.0.0.6', 'DHCP lease of this boot');
    watch.beginSsh(B);
    advance(9000);
    watch.lost(B, '10.0.0.6 unreachable');
    advance(19_000);
    expect(watch.dead(B)).toBeNull();
    expect(watch.line(B)).toMatch(/^n01 vtq-1-n01-2: waiting for its address, 28.0 s since start; seen: no console output yet; last sign of life 19.0 s ago, gives up after 20.0 s without one$/);
  });

  it('progress lines: phase, node, VM, time since start, console bytes and growth since the last line, SSH outcome', () => {
    const { watch, sizes, advance } = setup();
    advance(10_000);
    sizes.set('/a.log', 2048);
    watch.poll();
    expect(watch.line(A)).toBe('n01 vtq-1-n01-1: waiting for its address, 10.0 s since start; seen: console 2.0 KiB (+2.0 KiB); last sign of life 0.0 s ago, gives up after 20.0 s without one');
    advance(10_000);
    watch.poll();
    expect(watch.line(A)).toMatch(/console 2.0 KiB \(no new output\); last sign of life 10.0 s ago/);
    watch.found(A, '10.0.0.5', 'ARP');
    expect(watch.line(A)).toMatch(/^n01 vtq-1-n01-1: address 10.0.0.5 \(ARP\), waiting for the other VMs' addresses, 20.0 s since start; seen: console 2.0 KiB \(no new output\)$/);
    watch.beginSsh(A);
    watch.sshResult(A, 'connect ECONNREFUSED 10.0.0.5:22');
    sizes.set('/a.log', 3000);
    watch.poll();
    expect(watch.line(A)).toBe('n01 vtq-1-n01-1: waiting for SSH at 10.0.0.5, 20.0 s since start; seen: console 2.9 KiB (+952 B), address from ARP, SSH connect ECONNREFUSED 10.0.0.5:22; last sign of life 0.0 s ago, gives up after 10.0 s without one');
  });

  it('a VM killed is dead at once with its reason, in any wait but done, the first reason kept; the others are untouched', () => {
    const { watch, sizes, advance } = setup();
    advance(1000);
    sizes.set('/a.log', 4096);
    watch.poll();
    watch.kill(A, 'its qemu stopped during the boot twice; see the domain\'s qemu log /var/log/libvirt/qemu/vtq-1-n01-1.log');
    watch.kill(A, 'another reason');
    expect(watch.dead(A)).toBe("its qemu stopped during the boot twice; see the domain's qemu log /var/log/libvirt/qemu/vtq-1-n01-1.log");
    watch.found(A, '10.0.0.5', 'ARP'); // waiting for the others: still dead (the SSH wait asks before its first attempt)
    expect(watch.dead(A)).toMatch(/^its qemu stopped during the boot twice/);
    expect(watch.dead(B)).toBeNull();
    watch.ready(A);
    expect(watch.dead(A)).toBeNull();
  });

  it('a VM started again gets a fresh quiet window and its console (truncated by the start) counts from nothing', () => {
    const { watch, sizes, advance } = setup();
    sizes.set('/a.log', 8192);
    watch.poll();
    advance(15_000);
    watch.restarted(A, 'started again after its qemu stopped');
    sizes.set('/a.log', 0);
    advance(19_000);
    watch.poll();
    expect(watch.dead(A)).toBeNull();
    expect(watch.line(A)).toMatch(/seen: console 0 B \(no new output\); last sign of life 19.0 s ago/);
    sizes.set('/a.log', 100); // less than before the restart: still growth
    watch.poll();
    expect(watch.line(A)).toMatch(/seen: console 100 B \(\+100 B\); last sign of life 0.0 s ago/);
    advance(20_000);
    expect(watch.dead(A)).toMatch(/^no sign of life for 20.0 s \(last: console grew to 100 B;/);
  });

  it('a VM with no console output whose qemu keeps computing is not dead past its quiet limit; once its CPU stops growing it is', () => {
    const { watch, readCpu, advance } = setup();
    // A third of a core (six TCG guests on two cores): 100 s, five times the 20 s limit, without a console byte.
    let cpuMs = 0;
    for (let i = 0; i < 50; i++) {
      advance(2000);
      readCpu('vtq-1-n01-1', (cpuMs += 667));
      readCpu('vtq-1-n01-2', 40_000); // B's qemu does not compute at all
      watch.poll();
      expect(watch.dead(A)).toBeNull();
    }
    expect(watch.dead(B)).toMatch(/^no sign of life for 100.0 s \(last: started;/);
    expect(watch.line(A)).toMatch(/^n01 vtq-1-n01-1: waiting for its address, 100.0 s since start; seen: no console output yet, qemu busy: CPU \+32.7 s; last sign of life [0-4].\d s ago/);
    expect(watch.line(B)).toMatch(/seen: no console output yet, qemu idle: CPU \+0.0 s; last sign/);
    // Its CPU stops growing (a guest halted or idle): the quiet limit applies again, naming the last CPU sign.
    for (let i = 0; i < 12; i++) {
      advance(2000);
      readCpu('vtq-1-n01-1', (cpuMs += 20)); // 1 % of a core: an idle guest's timer ticks
      watch.poll();
    }
    expect(watch.dead(A)).toMatch(/^no sign of life for 2\d.\d s \(last: qemu busy: CPU \+\d.\d s in \d.\d s; limit 20.0 s = ip limit\)$/);
  });

  it('CPU time is judged over the window: one reading is no rate, a stale reading is no growth, none is nothing', () => {
    const { watch, cpu, readCpu, advance } = setup();
    readCpu('vtq-1-n01-1', 0);
    watch.poll();
    advance(4000);
    readCpu('vtq-1-n01-1', 4000); // fully busy, but only 4 s into the 5 s window
    watch.poll();
    expect(watch.line(A)).toMatch(/last sign of life 4.0 s ago/);
    advance(1000);
    watch.poll(); // the reading is no newer: no window yet
    expect(watch.line(A)).toMatch(/last sign of life 5.0 s ago/);
    readCpu('vtq-1-n01-1', 4500);
    watch.poll();
    expect(watch.line(A)).toMatch(/last sign of life 0.0 s ago/);
    cpu.delete('vtq-1-n01-1'); // not running any more: nothing read
    advance(20_000);
    watch.poll();
    expect(watch.dead(A)).toMatch(/\(last: qemu busy: CPU \+4.5 s in 5.0 s;/);
  });

  it("a VM started again: its earlier qemu's readings do not count, the new qemu's count from its start", () => {
    const { watch, readCpu, advance } = setup();
    readCpu('vtq-1-n01-1', 9000);
    advance(1000);
    watch.restarted(A, 'started again after its qemu stopped');
    advance(6000);
    watch.poll(); // the reading of the earlier qemu, taken before the restart
    readCpu('vtq-1-n01-1', 100);
    watch.poll();
    advance(5000);
    readCpu('vtq-1-n01-1', 2100);
    watch.poll();
    expect(watch.line(A)).toMatch(/qemu busy: CPU \+2.0 s; last sign of life 0.0 s ago/);
  });
});
