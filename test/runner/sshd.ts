import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';
/** The real-sshd tests need root (sshd's privilege separation) and the openssh-server package. */
export const canRunSshd = process.getuid?.() === 0 && existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen');

/** A throw-away OpenSSH sshd on one loopback address, as root, with its own host key and config. */
export interface TestSshd {
  readonly address: string;
  readonly port: number;
  /** `ssh-ed25519 AAAA… comment`, what vms.json records as the VM's host key. */
  readonly hostKey: string;
  readonly pid: number;
  /** Everything sshd logged (-e: to stderr), including internal-sftp's file operations. */
  log(): string;
  /** SIGKILL the listener and every sshd process below it (the live sessions): an abrupt connection loss. */
  killAll(): void;
  stop(): Promise<void>;
}

export function keygen(file: string, comment: string): string {
  const r = spawnSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

/** A TCP port free on every one of `addresses` right now. */
export async function freePort(addresses: readonly string[]): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const port = await listenOnce(addresses[0] as string, 0);
    if (port === null) continue;
    let ok = true;
    for (const a of addresses.slice(1)) if ((await listenOnce(a, port)) === null) ok = false;
    if (ok) return port;
  }
  throw new Error('no free port');
}

function listenOnce(address: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, address, () => {
      const got = (srv.address() as { port: number }).port;
      srv.close(() => resolve(got));
    });
  });
}

/** `source` is mounted over `target` inside one test sshd's mount namespace. */
export interface Bind {
  readonly source: string;
  readonly target: string;
}

/** An account that exists only inside one test sshd's mount namespace (see startSshd). */
export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/**
 * Start sshd -D -e on `address:port` with a config in `dir`. `authorizedKeys` maps user → key line
 * (kept in `<dir>/authorized_keys/%u`). StrictModes is off because the test dir sits under /tmp.
 *
 * `users` are non-root login accounts for this sshd alone, and `binds` directories it sees in
 * place of others (its own "guest file system"): it then runs in a private mount namespace where
 * /etc/passwd is a bind-mounted copy with those users added, so the machine's own files are never
 * changed. (Non-root users matter because OpenSSH refuses `signal` requests on root sessions.)
 */
export async function startSshd(
  dir: string,
  address: string,
  port: number,
  authorizedKeys: Readonly<Record<string, string>>,
  more: { readonly users?: readonly TestUser[]; readonly binds?: readonly Bind[] } = {},
): Promise<TestSshd> {
  // sshd's compiled-in privilege separation directory; a package install leaves it to systemd.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  mkdirSync(join(dir, 'authorized_keys'), { recursive: true, mode: 0o755 });
  for (const [user, key] of Object.entries(authorizedKeys)) writeFileSync(join(dir, 'authorized_keys', user), `${key}\n`, { mode: 0o644 });
  const hostKey = keygen(join(dir, 'host_ed25519'), `test-sshd-${address}`);
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress ${address}:${port}`,
      `HostKey ${join(dir, 'host_ed25519')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}/%u`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'LogLevel VERBOSE',
      'Subsystem sftp internal-sftp -l INFO',
      `PidFile ${join(dir, 'sshd.pid')}`,
      '',
    ].join('\n'),
  );
  const child = spawn(...sshdCommand(dir, config, more.users ?? [], more.binds ?? []), { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  await waitListening(address, port, child, () => log);
  const pid = child.pid as number;
  return {
    address,
    port,
    hostKey,
    pid,
    log: () => log,
    killAll: () => {
      for (const p of [pid, ...descendants(pid).filter((d) => comm(d) === 'sshd')]) tryKill(p, 'SIGKILL');
    },
    stop: () => stopChild(child),
  };
}

function sshdCommand(dir: string, config: string, users: readonly TestUser[], binds: readonly Bind[]): [string, string[]] {
  const sshd = [SSHD, '-D', '-e', '-f', config];
  const mounts: string[] = binds.flatMap((b) => [b.source, b.target]);
  if (users.length > 0) {
    const passwd = join(dir, 'passwd');
    const lines = users.map((u) => `${u.name}:*:${u.uid}:${u.gid}:vTorque test user:${u.home}:/bin/bash\n`);
    writeFileSync(passwd, readFileSync('/etc/passwd', 'utf8') + lines.join(''), { mode: 0o644 });
    mounts.push(passwd, '/etc/passwd');
  }
  if (mounts.length === 0) return [SSHD, sshd.slice(1)];
  // unshare and sh both exec, so the child's pid is sshd's; the mounts exist for sshd and its sessions only.
  const script = 'set -e; while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"';
  return ['/usr/bin/unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', ...mounts, '--', ...sshd]];
}

/** Can this machine give a test sshd a private mount namespace (root with CAP_SYS_ADMIN)? */
export function canUnshareMounts(): boolean {
  if (!existsSync('/usr/bin/unshare')) return false;
  return spawnSync('/usr/bin/unshare', ['--mount', '--propagation', 'private', '/bin/true']).status === 0;
}

async function waitListening(address: string, port: number, child: ChildProcess, log: () => string): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${log()}`);
    if (await canConnect(address, port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${address}:${port}: ${log()}`);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.on('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  const pid = child.pid as number;
  const below = descendants(pid);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    tryKill(pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  }
  for (const p of below) tryKill(p, 'SIGKILL');
}

/** Every process below `pid` (by /proc parent links), at this moment. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(e), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, pp] of parent) if (pp === p) (out.push(child), walk(child));
  };
  walk(pid);
  return out;
}

/** Processes whose command line contains `needle` (NUL-separated argv joined by spaces). */
export function processesMatching(needle: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ').includes(needle)) found.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

export function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
