import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { VM_KNOWN_HOSTS_PATH, VM_SSH_KEY_PATH } from '../core/contract/guest-layout.v1.js';
import { VtorqueError } from '../core/errors.js';
import { guestKnownHosts, writeGuestFiles } from './guest-files.js';

// Keys from ssh-keygen, as the other ssh tests use: ssh2's own generateKeyPairSync now and then
// makes an ed25519 key its Server cannot parse ("Malformed OpenSSH private key", seen in a full run).
const keyDir = mkdtempSync(join(tmpdir(), 'vtq-guest-files-'));
function keygen(name: string): { private: string; public: string } {
  const file = join(keyDir, name);
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  return { private: readFileSync(file, 'utf8'), public: readFileSync(`${file}.pub`, 'utf8').trim() };
}
const host = keygen('host');
const user = keygen('user');
const servers: ssh2.Server[] = [];
afterAll(() => {
  servers.forEach((s) => s.close());
  rmSync(keyDir, { recursive: true, force: true });
});

const { STATUS_CODE } = ssh2.utils.sftp;

/** An SFTP server that keeps what is written (path, mode on open, content) and counts its connections. */
async function sftpServer(refuse?: string): Promise<{ port: number; files: Map<string, { mode: number | undefined; data: Buffer }>; connections: () => number }> {
  const files = new Map<string, { mode: number | undefined; data: Buffer }>();
  let connections = 0;
  const server = new ssh2.Server({ hostKeys: [host.private] }, (c) => {
    connections += 1;
    c.on('error', () => undefined);
    c.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])));
    c.on('session', (accept) => {
      accept().on('sftp', (acceptSftp) => {
        const sftp = acceptSftp();
        const open = new Map<string, string>();
        sftp.on('OPEN', (id, path, _flags, attrs) => {
          if (path === refuse) return sftp.status(id, STATUS_CODE.PERMISSION_DENIED);
          const handle = Buffer.from(String(open.size));
          open.set(handle.toString(), path);
          files.set(path, { mode: attrs.mode, data: Buffer.alloc(0) });
          return sftp.handle(id, handle);
        });
        sftp.on('WRITE', (id, handle, offset, data) => {
          const f = files.get(open.get(handle.toString()) as string) as { data: Buffer };
          f.data = Buffer.concat([f.data.subarray(0, offset), data]);
          sftp.status(id, STATUS_CODE.OK);
        });
        sftp.on('CLOSE', (id) => sftp.status(id, STATUS_CODE.OK));
      });
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, files, connections: () => connections };
}

const target = (port: number) => ({ host: '127.0.0.1', port, user: 'alice', privateKey: Buffer.from(user.private), hostKey: host.public, timeoutMs: 5000 });

describe('writeGuestFiles', () => {
  it('writes every file over one pinned connection, each with its mode', async () => {
    const s = await sftpServer();
    await writeGuestFiles(target(s.port), [
      { path: '/var/spool/torque/aux/1.srv', content: '10.0.0.5\n', mode: 0o644 },
      { path: VM_SSH_KEY_PATH, content: Buffer.from(user.private), mode: 0o600 },
      { path: VM_KNOWN_HOSTS_PATH, content: 'x\n', mode: 0o644 },
    ]);
    expect(s.connections()).toBe(1);
    expect([...s.files].map(([p, f]) => [p, (f.mode ?? 0) & 0o7777, f.data.toString()])).toEqual([
      ['/var/spool/torque/aux/1.srv', 0o644, '10.0.0.5\n'],
      [VM_SSH_KEY_PATH, 0o600, user.private],
      [VM_KNOWN_HOSTS_PATH, 0o644, 'x\n'],
    ]);
  });

  it('a refused write fails as SSH_FAILED naming the file and the guest, a node fault', async () => {
    const s = await sftpServer(VM_KNOWN_HOSTS_PATH);
    const err = await writeGuestFiles(target(s.port), [{ path: VM_SSH_KEY_PATH, content: 'k', mode: 0o600 }, { path: VM_KNOWN_HOSTS_PATH, content: 'x', mode: 0o644 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VtorqueError);
    expect([(err as VtorqueError).code, (err as VtorqueError).fault]).toEqual(['SSH_FAILED', 'node']);
    expect((err as Error).message).toMatch(new RegExp(`^cannot write ${VM_KNOWN_HOSTS_PATH} in 127\\.0\\.0\\.1: `));
  });
});

describe('guestKnownHosts', () => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOs6wnYZDaJl+QpBG9DMEFCqic1H6ts/3mLaEbHsosVg';
  it('one `<ip>,<hostname> <key>` line per VM, in the order given, the key without its comment', () => {
    expect(
      guestKnownHosts([
        { name: 'vtq-1-na-1', ip: '10.0.0.5', hostname: 'vna-1', hostKey: `${key} vtq-1-na-1` },
        { name: 'vtq-1-nb-1', ip: 'fd00::7', hostname: 'vnb-1', hostKey: key },
      ]),
    ).toBe(`10.0.0.5,vna-1 ${key}\nfd00::7,vnb-1 ${key}\n`);
  });

  it('refuses what could break the file (no address, a bad hostname, a key with a newline), naming the VM', () => {
    const vm = { name: 'vtq-1-na-1', ip: '10.0.0.5', hostname: 'vna-1', hostKey: key };
    for (const bad of [{ ip: '' }, { ip: '10.0.0.5 evil' }, { hostname: 'a,b' }, { hostname: '' }, { hostKey: `ssh-ed25519\n${key}` }, { hostKey: 'ssh-ed25519' }]) {
      expect(() => guestKnownHosts([{ ...vm, ...bad }]), JSON.stringify(bad)).toThrow(/^VM vtq-1-na-1: no known_hosts line/);
    }
  });
});
