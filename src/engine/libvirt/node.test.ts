import { describe, expect, it } from 'vitest';
import { DeadlineError, withDeadline } from './deadline.js';
import { LibvirtError, isNotFound } from './errors.js';
import { openLibvirt } from './node.js';

const xml = (name: string) => `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`;

describe('openLibvirt over the test driver', () => {
  it('wraps failures with op and domain; "gone" is told apart by message', async () => {
    const lv = await openLibvirt('test:///default');
    try {
      const name = `node-test-${process.pid}`;
      expect(await lv.state(name)).toBe('missing');
      const err = await lv.destroy(name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LibvirtError);
      expect(err).toMatchObject({ op: 'destroy', domain: name, notFound: true, code: 'COMMAND_FAILED' });
      expect(isNotFound(err)).toBe(true);

      await lv.define(xml(name));
      expect(await lv.state(name)).toBe('shutoff');
      const notRunning = await lv.destroy(name).catch((e: unknown) => e);
      expect(notRunning).toMatchObject({ op: 'destroy', notFound: false, notRunning: true });
      await lv.start(name);
      expect(await lv.state(name)).toBe('running');
      expect(await lv.listDomains()).toContainEqual({ name, active: true });
      await lv.destroy(name);
      await lv.undefine(name);
      const gone = await lv.undefine(name).catch((e: unknown) => e);
      expect(gone).toMatchObject({ op: 'undefine', notFound: true });

      const bad = await lv.define('<domain type="test"><name>x').catch((e: unknown) => e);
      expect(bad).toMatchObject({ op: 'define', notFound: false });
      expect((bad as Error).message).not.toContain('\n');
    } finally {
      await lv.close();
      await lv.close();
    }
  });

  it("cpuTimeMs: a running domain's CPU time in ms (the test driver's grows with the clock); null when shut off or gone", async () => {
    const lv = await openLibvirt('test:///default');
    const name = `node-cpu-${process.pid}`;
    try {
      expect(await lv.cpuTimeMs(name)).toBeNull();
      await lv.define(xml(name));
      expect(await lv.cpuTimeMs(name)).toBeNull();
      await lv.start(name);
      const first = (await lv.cpuTimeMs(name)) as number;
      expect(first).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 50));
      expect(await lv.cpuTimeMs(name)).toBeGreaterThan(first);
      await lv.destroy(name);
      expect(await lv.cpuTimeMs(name)).toBeNull();
    } finally {
      await lv.undefine(name).catch(() => undefined);
      await lv.close();
    }
  });

  it('gives up opening after the bounded retries, naming the URI', async () => {
    const t0 = performance.now();
    const err = await openLibvirt('qemu+tcp://127.0.0.1:1/system', { attempts: 3, retryDelayMs: 10 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ op: 'open', domain: null });
    expect((err as Error).message).toMatch(/^libvirt open "qemu\+tcp:\/\/127.0.0.1:1\/system": /);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe('withDeadline', () => {
  it('rejects in time and hands a late value to onLate', async () => {
    let release: (v: string) => void = () => undefined;
    const late: string[] = [];
    const work = new Promise<string>((r) => (release = r));
    await expect(withDeadline(work, 20, 'slow step', (v) => late.push(v))).rejects.toBeInstanceOf(DeadlineError);
    release('done');
    await work;
    await new Promise((r) => setImmediate(r));
    expect(late).toEqual(['done']);
  });
});
