import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { openPinned, PinnedConnectError } from './pinned.js';

const dir = mkdtempSync(join(tmpdir(), 'vtq-pinned-'));
const keygen = (name: string): { priv: Buffer; pub: string } => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  return { priv: readFileSync(join(dir, name)), pub: readFileSync(join(dir, `${name}.pub`), 'utf8').trim() };
};
const host = keygen('host');
const other = keygen('other');
const user = keygen('user');
const servers: ssh2.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function listen(): Promise<number> {
  const server = new ssh2.Server({ hostKeys: [host.priv] }, (c) => {
    c.on('error', () => undefined);
    c.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}
const target = (port: number, hostKey = host.pub) => ({ host: '127.0.0.1', port, user: 'job', privateKey: user.priv, hostKey });

describe('openPinned (the one SSH connect: readiness, node file, job runner)', () => {
  it('logs in with the pinned key, telling connect and handshake', async () => {
    const seen: string[] = [];
    const client = await openPinned(target(await listen()), { readyTimeoutMs: 5000, onConnect: () => seen.push('connect'), onHandshake: () => seen.push('handshake') });
    client.end();
    expect(seen).toEqual(['connect', 'handshake']);
  });

  it('refuses any other host key and says which one was offered', async () => {
    const err = await openPinned(target(await listen(), other.pub), { readyTimeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PinnedConnectError);
    expect((err as PinnedConnectError).offered?.length).toBeGreaterThan(0);
  });

  it('reports a refused port by its code, and a cancel at once', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const refused = (await openPinned(target(port), { readyTimeoutMs: 5000 }).catch((e: unknown) => e)) as PinnedConnectError;
    expect([refused.code, refused.offered]).toEqual(['ECONNREFUSED', null]);
    const abort = new AbortController();
    abort.abort();
    await expect(openPinned(target(port), { readyTimeoutMs: 5000, signal: abort.signal })).rejects.toThrow('cancelled');
  });
});
