import { copyFileSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable } from '../src/core/exec/which.js';
import { buildImage } from '../src/image/index.js';
import { createVmSite, DEB_CACHE } from '../test/e2e/helpers/vm-site.js';
import { vtorqueJob, type VtorqueTimes } from './e2e.js';
import { emit, median } from './stats.js';

/**
 * P7: how fast a job's guest is ready, the tuned reference image beside the plain one (the image as
 * it was before the tuning), in one run and one sandbox, runs interleaved (tuned, plain, tuned, …)
 * so a change in the machine's load hits both alike. Each run is a whole VM job through the
 * installed hooks (vsub, prologue, job, epilogue), 1 vCPU, 1 GiB, TCG.
 *
 * - vm_start_to_ssh: from the domain running to SSH ready, the prologue's own `ip` + `ssh` phases
 *   (ready: vtorque-seed done, or cloud-init done when cloud-init starts the guest).
 * - submit_to_first_line: vsub to the job script's first line in its .OU.
 * - guest: systemd's own `Startup finished` (kernel, userspace) and the chain to ssh.service, from
 *   inside the guest (the job script runs systemd-analyze after its first line).
 *
 * VTQ_BENCH_BOOT_RUNS (default 3) runs of each.
 */
export async function benchBoot(): Promise<void> {
  const missing = ['virsh', 'qemu-img', 'debootstrap'].filter((t) => findExecutable(t) === null);
  if (process.getuid?.() !== 0 || missing.length > 0) {
    emit('P7_vm_start_to_ssh_s', Number.NaN, 's', { skipped: process.getuid?.() !== 0 ? 'needs root' : `missing ${missing.join(', ')}` });
    return;
  }
  const runs = Math.max(1, Number(process.env.VTQ_BENCH_BOOT_RUNS ?? 3));
  const t00 = performance.now();
  const log = (line: string): void => void process.stderr.write(`[boot +${((performance.now() - t00) / 1000).toFixed(0)}s] ${line}\n`);
  const site = createVmSite({
    name: 'vtqbbench',
    network: { name: 'vtq-bboot-net', bridge: 'vtqbbootbr0', subnet: '10.213.13' },
    root: process.env.VTQ_BENCH_BOOT_DIR ?? '/var/tmp/vtorque-e2e/bench-boot',
    user: 'vtqe2e',
    log,
  });
  const PLAIN = 'debian-12-plain.qcow2';
  try {
    await site.open();
    const plain = (await buildImage({ outDir: process.env.VTQ_PLAIN_IMAGE_DIR ?? '/var/cache/vtorque/plain-image', cacheDir: DEB_CACHE, profile: 'plain', log: (l) => log(`plain image: ${l}`) })).artifacts;
    for (const [from, suffix] of [[plain.qcow2, ''], [plain.vmlinuz, '.vmlinuz'], [plain.initrd, '.initrd'], [plain.cmdline, '.cmdline']] as const) {
      try {
        linkSync(from, join(site.poolDir, `${PLAIN}${suffix}`));
      } catch {
        copyFileSync(from, join(site.poolDir, `${PLAIN}${suffix}`));
      }
    }
    const after = 'echo "SEED=$(grep -o vtorque.seed=on /proc/cmdline || echo cloud-init)"\nsystemd-analyze 2>&1 | head -n 1\nsystemd-analyze critical-chain --no-pager ssh.service 2>&1 | head -n 14\n';
    const results: Record<'tuned' | 'plain', Sample[]> = { tuned: [], plain: [] };
    for (let i = 1; i <= runs; i++) {
      for (const profile of ['tuned', 'plain'] as const) {
        const t = await vtorqueJob(site, log, { after, ...(profile === 'plain' ? { img: PLAIN } : {}) });
        const sample = toSample(t);
        results[profile].push(sample);
        emit(`P7_run_${profile}`, sample.vmStartToSsh, 's', { run: i, submit_to_first_line_s: sample.firstLine, phases: t.phases, guest_kernel_s: sample.guestKernel, guest_userspace_s: sample.guestUserspace, seed: sample.seed });
        log(`${profile} run ${i}: VM start -> SSH ${sample.vmStartToSsh.toFixed(1)} s, submit -> first line ${sample.firstLine.toFixed(1)} s\n${sample.chain}`);
      }
    }
    const med = (p: 'tuned' | 'plain', f: (s: Sample) => number): number => median(results[p].map(f));
    const phases = (p: 'tuned' | 'plain'): Record<string, number> => Object.fromEntries(['plan', 'prepare', 'boot', 'ip', 'ssh', 'nodefile'].map((ph) => [ph, med(p, (s) => s.phases[ph] ?? Number.NaN)]));
    const guest = (p: 'tuned' | 'plain') => ({ guest_kernel_s: med(p, (s) => s.guestKernel), guest_userspace_s: med(p, (s) => s.guestUserspace) });
    const tunedSsh = med('tuned', (s) => s.vmStartToSsh);
    const plainSsh = med('plain', (s) => s.vmStartToSsh);
    emit('P7_vm_start_to_ssh_s', tunedSsh, 's', { target: 15, runs, median_of: results.tuned.map((s) => s.vmStartToSsh), phases: phases('tuned'), ...guest('tuned'), seed: results.tuned[0]?.seed });
    emit('P7_untuned_vm_start_to_ssh_s', plainSsh, 's', { runs, median_of: results.plain.map((s) => s.vmStartToSsh), phases: phases('plain'), ...guest('plain'), seed: results.plain[0]?.seed });
    emit('P7_speedup', plainSsh / tunedSsh, 'ratio', { what: 'untuned / tuned, VM start -> SSH ready, medians of one run' });
    emit('P7_submit_to_first_line_s', med('tuned', (s) => s.firstLine), 's', { target: 20, runs, median_of: results.tuned.map((s) => s.firstLine) });
    emit('P7_untuned_submit_to_first_line_s', med('plain', (s) => s.firstLine), 's', { runs, median_of: results.plain.map((s) => s.firstLine) });
  } finally {
    await site.close();
  }
}

interface Sample {
  vmStartToSsh: number;
  firstLine: number;
  phases: Record<string, number>;
  guestKernel: number;
  guestUserspace: number;
  chain: string;
  seed: string;
}

/** `Startup finished in 6.512s (kernel) + 12.3s (userspace) = 18.8s` (systemd prints min/ms too). */
function seconds(text: string | undefined): number {
  if (text === undefined) return Number.NaN;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/([\d.]+)(min|ms|s)/g)) total += Number(n) * (unit === 'min' ? 60 : unit === 'ms' ? 0.001 : 1);
  return total;
}

function toSample(t: VtorqueTimes): Sample {
  const startup = /Startup finished in (.+?) \(kernel\) \+ (.+?) \(userspace\)/.exec(t.stdout);
  const chainAt = t.stdout.indexOf('The time when unit became active');
  return {
    vmStartToSsh: (t.phases.ip ?? Number.NaN) + (t.phases.ssh ?? Number.NaN),
    firstLine: t.firstLine,
    phases: t.phases,
    guestKernel: seconds(startup?.[1]),
    guestUserspace: seconds(startup?.[2]),
    chain: chainAt >= 0 ? t.stdout.slice(chainAt).split('\n').slice(0, 14).join('\n') : '(no critical chain in the output)',
    seed: /^SEED=vtorque\.seed=on$/m.test(t.stdout) ? 'vtorque-seed' : 'cloud-init',
  };
}
