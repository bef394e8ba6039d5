import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineLog } from '../libvirt/index.js';
import { CLOUD_INIT_DONE, HostKeyMismatchError, parseHostKey, SSH_STAGES, SshNotReadyError, waitForSsh } from './ssh-ready.js';

const log: EngineLog = { info: () => undefined, warn: () => undefined };
const dir = mkdtempSync(join(tmpdir(), 'vtq-ssh-'));
function keygen(name: string, type: 'ed25519' | 'rsa'): { priv: Buffer; pub: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', name, '-f', file]);
  return { priv: readFileSync(file), pub: readFileSync(`${file}.pub`, 'utf8').trim() };
}

let hostA: ReturnType<typeof keygen>;
let hostB: ReturnType<typeof keygen>;
let hostRsa: ReturnType<typeof keygen>;
let user: ReturnType<typeof keygen>;
const servers: ssh2.Server[] = [];

/** An SSH server on 127.0.0.1 that accepts `user` (after `refuseFirst` refused logins) and runs exec requests with exit 0. */
async function startServer(hostKeys: Buffer[], refuseFirst = 0, exitCode: (command: string) => number = () => 0): Promise<{ port: number; connections: () => number; commands: string[] }> {
  const commands: string[] = [];
  const userKey = ssh2.utils.parseKey(user.pub);
  if (userKey instanceof Error) throw userKey;
  let connections = 0;
  let refused = 0;
  const server = new ssh2.Server({ hostKeys }, (client) => {
    connections++;
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.key.algo !== userKey.type || !ctx.key.data.equals(userKey.getPublicSSH())) return ctx.reject(['publickey']);
      if (!ctx.signature) return ctx.accept(); // the "would this key do?" query
      if (refused < refuseFirst) {
        refused++;
        return ctx.reject(['publickey']); // cloud-init has not installed the key yet
      }
      return userKey.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo) === true ? ctx.accept() : ctx.reject();
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        accept().once('exec', (acceptExec, _reject, info) => {
          commands.push(info.command);
          const stream = acceptExec();
          stream.exit(exitCode(info.command));
          stream.end();
        });
      });
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, connections: () => connections, commands };
}

beforeAll(() => {
  hostA = keygen('host-a', 'ed25519');
  hostB = keygen('host-b', 'ed25519');
  hostRsa = keygen('host-rsa', 'rsa');
  user = keygen('user', 'ed25519');
});

afterAll(() => {
  for (const s of servers) s.close();
});

const base = () => ({ host: '127.0.0.1', user: 'job', privateKey: user.priv, connectTimeoutMs: 2000, log, retryMs: 50, vm: 'vtq-1.srv-n01-1' });

describe('waitForSsh', () => {
  it('logs in once the key works, with the right host key (among several the server holds)', async () => {
    const srv = await startServer([hostRsa.priv, hostA.priv], 2);
    const r = await waitForSsh({ ...base(), port: srv.port, hostKey: hostA.pub, deadlineMs: 10_000 });
    expect(r.attempts).toBe(3);
  });

  it('negotiates only the expected key type, so a server preferring another of its keys is no mismatch', async () => {
    const srv = await startServer([hostA.priv, hostRsa.priv]);
    const r = await waitForSsh({ ...base(), port: srv.port, hostKey: hostRsa.pub, deadlineMs: 10_000 });
    expect(r.attempts).toBe(1);
  });

  it('refuses another host key at once, without retrying', async () => {
    const srv = await startServer([hostB.priv]);
    const t0 = performance.now();
    const err = await waitForSsh({ ...base(), port: srv.port, hostKey: hostA.pub, deadlineMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyMismatchError);
    expect((err as Error).message).toMatch(/^host key mismatch for vtq-1.srv-n01-1: job@127.0.0.1:\d+ offered ssh-ed25519 SHA256:\S+, expected ssh-ed25519 SHA256:\S+$/);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(srv.connections()).toBe(1);
  });

  it('gives up at the deadline when nothing listens', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const t0 = performance.now();
    const err = await waitForSsh({ ...base(), port, hostKey: hostA.pub, deadlineMs: 600 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshNotReadyError);
    expect((err as Error).message).toMatch(/^SSH to vtq-1.srv-n01-1 \(job@127.0.0.1:\d+\) not ready after \d+ ms and \d+ attempt\(s\): .*ECONNREFUSED/);
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it('reports each stage an attempt reaches first (a sign of life), every outcome, and ends when `dead` says so', async () => {
    const srv = await startServer([hostA.priv], 2);
    const stages: string[] = [];
    const outcomes: string[] = [];
    await waitForSsh({ ...base(), port: srv.port, hostKey: hostA.pub, deadlineMs: 10_000, onProgress: (s) => stages.push(s), onAttempt: (o) => outcomes.push(o) });
    expect(stages).toEqual(['TCP connected', 'host key verified', 'login']);
    expect(outcomes).toHaveLength(3);
    expect(outcomes.at(-1)).toBe('login works');
    // Nothing listens: refused is the only stage; a dead guest ends the wait long before the deadline, saying why.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const refused: string[] = [];
    let asked = 0;
    const t0 = performance.now();
    const err = await waitForSsh({ ...base(), port, hostKey: hostA.pub, deadlineMs: 60_000, onProgress: (s) => refused.push(s), dead: () => (++asked > 4 ? 'no sign of life for 20.0 s' : null) }).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(refused).toEqual([SSH_STAGES[0]]);
    expect(err).toBeInstanceOf(SshNotReadyError);
    expect((err as Error).message).toMatch(/not ready after \d+ ms and 4 attempt\(s\): .*ECONNREFUSED.*; no sign of life for 20.0 s$/);
  });

  it('a VM cloud-init starts is ready only once CLOUD_INIT_DONE says so; every login counts as a sign of life', async () => {
    let calls = 0;
    const srv = await startServer([hostA.priv], 0, (command) => (command === CLOUD_INIT_DONE && ++calls < 3 ? 1 : 0));
    const stages: string[] = [];
    const results: string[] = [];
    let logins = 0;
    const r = await waitForSsh({ ...base(), port: srv.port, hostKey: hostA.pub, deadlineMs: 10_000, readyCommand: CLOUD_INIT_DONE, onProgress: (s) => stages.push(s), onAttempt: (x) => results.push(x), onLoggedIn: () => logins++ });
    expect(r.attempts).toBe(3);
    // Each login is a sign of life, not only the first: cloud-init may run for minutes after it.
    expect(logins).toBe(3);
    expect(stages.filter((s) => s === 'login')).toHaveLength(1);
    expect(srv.commands).toEqual([CLOUD_INIT_DONE, CLOUD_INIT_DONE, CLOUD_INIT_DONE]);
    expect(results).toEqual(['logged in; cloud-init not finished yet', 'logged in; cloud-init not finished yet', 'login works']);
    expect(stages.at(-1)).toBe('login');
  });

  it('readyCommand null: the login alone counts, nothing is run in the guest', async () => {
    const srv = await startServer([hostA.priv], 1);
    const r = await waitForSsh({ ...base(), port: srv.port, hostKey: hostA.pub, deadlineMs: 10_000, readyCommand: null });
    expect(r.attempts).toBe(2);
    expect(srv.commands).toEqual([]);
  });

  it('rejects an expected key that is not an OpenSSH public key line', () => {
    expect(() => parseHostKey('ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA')).toThrow(/not an OpenSSH public key line/);
    expect(parseHostKey(hostA.pub).type).toBe('ssh-ed25519');
  });
});
