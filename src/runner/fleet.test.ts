import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { connectRetryingRefused } from './fleet.js';
import { SshConnectError } from './ssh/index.js';

const dir = mkdtempSync(join(tmpdir(), 'vtq-fleet-'));
function keygen(name: string): { priv: Buffer; pub: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return { priv: readFileSync(file), pub: readFileSync(`${file}.pub`, 'utf8').trim() };
}
const host = keygen('host');
const user = keygen('user');
const servers: ssh2.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

/** A free port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function listen(port: number): Promise<void> {
  const userKey = ssh2.utils.parseKey(user.pub);
  if (userKey instanceof Error) throw userKey;
  const server = new ssh2.Server({ hostKeys: [host.priv] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])));
  });
  servers.push(server);
  return new Promise((r) => server.listen(port, '127.0.0.1', r));
}

const limits = { readyTimeoutMs: 3000, keepaliveIntervalMs: 15_000, keepaliveCountMax: 4 };
const target = (port: number) => ({ vm: 'vtq-1.srv-vm-1', host: '127.0.0.1', port, user: 'job', privateKey: user.priv, hostKey: host.pub });

describe('connectRetryingRefused (an sshd restarted just after readiness)', () => {
  it('logs in once the listener is back within the window', async () => {
    const port = await freePort();
    setTimeout(() => void listen(port), 1500);
    const started = performance.now();
    const session = await connectRetryingRefused(target(port), limits, undefined, 10_000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1400);
    session.end();
  });

  it('gives up with the refusal once the window is spent', async () => {
    const port = await freePort();
    const started = performance.now();
    const err = await connectRetryingRefused(target(port), limits, undefined, 2500).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshConnectError);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect(performance.now() - started).toBeLessThan(4000);
  });

  it('does not retry a host key other than the recorded one', async () => {
    const port = await freePort();
    await listen(port);
    const other = keygen('other');
    const started = performance.now();
    const err = await connectRetryingRefused({ ...target(port), hostKey: other.pub }, limits, undefined, 10_000).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/host key/i);
    expect(performance.now() - started).toBeLessThan(1500);
  });
});
