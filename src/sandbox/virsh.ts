import { run, type RunResult } from '../core/exec/run.js';

/** The sandbox's virsh adapter: every call names the sandbox URI and has a bound. */

const VIRSH_TIMEOUT_MS = 30_000;

export function virsh(uri: string, args: readonly string[], timeoutMs = VIRSH_TIMEOUT_MS): Promise<RunResult> {
  return run('virsh', ['-q', '-c', uri, ...args], { timeoutMs });
}

/**
 * Whether the daemon behind `uri` answers `virsh version`. That call also makes libvirt probe QEMU
 * when its capability cache is cold (1-2 s, more on a busy host), hence the generous bound.
 */
export async function libvirtAnswers(uri: string, timeoutMs = 20_000): Promise<boolean> {
  const res = await run('virsh', ['-q', '-c', uri, 'version'], { timeoutMs, reject: false });
  return res.exitCode === 0;
}

export async function runningDomains(uri: string): Promise<string[]> {
  const res = await virsh(uri, ['list', '--name', '--state-running', '--state-paused', '--state-other']);
  return res.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

export interface NetworkInfo {
  readonly active: boolean;
  readonly autostart: boolean;
  readonly bridge: string | null;
}

/** `virsh net-info`, or null when the network is not defined. */
export async function networkInfo(uri: string, name: string): Promise<NetworkInfo | null> {
  const res = await run('virsh', ['-q', '-c', uri, 'net-info', name], { timeoutMs: VIRSH_TIMEOUT_MS, reject: false });
  if (res.exitCode !== 0) {
    if (/network not found|no network with matching name/i.test(res.stderr)) return null;
    await virsh(uri, ['net-info', name]); // throws the CommandError with its context
    return null;
  }
  const field = (key: string): string | null => {
    const line = res.stdout.split('\n').find((l) => l.toLowerCase().startsWith(`${key.toLowerCase()}:`));
    return line === undefined ? null : line.slice(line.indexOf(':') + 1).trim();
  };
  return { active: field('Active') === 'yes', autostart: field('Autostart') === 'yes', bridge: field('Bridge') };
}
