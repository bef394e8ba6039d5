import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootVms, BootError } from '../../src/engine/boot/index.js';
import { openLibvirt, type LibvirtNode } from '../../src/engine/libvirt/index.js';
import { domainPrefix } from '../../src/engine/naming.js';
import { teardownJob } from '../../src/engine/teardown/index.js';
import { foreignXml, freshJobId, recordLog, spyNode, TEST_URI, testDomains, testPlan } from './helpers.js';

// libvirt's test driver: the real API, in process. test:///default is shared by every connection
// of this process and starts with a running domain "test" that is not ours.
let lv: LibvirtNode;
let foreignJob: string;
let foreign: string[];
let testXml: string;

const names = async () => (await lv.listDomains()).map((d) => d.name).sort();

beforeAll(async () => {
  lv = await openLibvirt(TEST_URI);
  testXml = await lv.xmlOf('test');
  foreignJob = freshJobId();
  foreign = [];
  for (const d of testDomains(testPlan(foreignJob, ['n09'], 1))) {
    await lv.define(d.xml);
    await lv.start(d.name);
    foreign.push(d.name);
  }
});

afterAll(async () => {
  // The other job's domain is still there (every teardown below left it alone); now remove it.
  await teardownJob(lv, foreignJob, { graceful: new Set(), shutdownTimeoutMs: 1000, parallel: 4, log: recordLog() });
  await lv.close();
});

/** Domains that look like ours but are not: by prefix only, by owner only, another job's owner. */
async function defineLookalikes(jobId: string): Promise<string[]> {
  const prefix = domainPrefix(jobId);
  const list = [
    { name: `${prefix}intruder-1`, xml: foreignXml(`${prefix}intruder-1`) },
    { name: `${prefix}other-owner-1`, xml: foreignXml(`${prefix}other-owner-1`, { job: `${jobId}x` }) },
    { name: `elsewhere-${jobId}`, xml: foreignXml(`elsewhere-${jobId}`, { job: jobId }) },
  ];
  for (const d of list) await lv.define(d.xml);
  await lv.start(list[0]?.name as string);
  return list.map((d) => d.name);
}

async function removeLookalikes(list: readonly string[]): Promise<void> {
  for (const name of list) {
    if ((await lv.state(name)) === 'running') await lv.destroy(name);
    await lv.undefine(name);
  }
}

async function expectForeignUntouched(): Promise<void> {
  expect(await lv.state('test')).toBe('running');
  expect(await lv.xmlOf('test')).toBe(testXml);
  for (const name of foreign) expect(await lv.state(name)).toBe('running');
}

describe('boot and teardown on the libvirt test driver', () => {
  it('boots 8 VMs, tears them all down (twice), and touches nothing else', async () => {
    const jobId = freshJobId();
    const plan = testPlan(jobId, ['n01', 'n02'], 4);
    const domains = testDomains(plan);
    const lookalikes = await defineLookalikes(jobId);
    const node = spyNode(lv);
    const log = recordLog();

    const t0 = performance.now();
    const booted = await bootVms(node, domains, { parallel: 8, deadlineMs: 10_000, log });
    const bootMs = performance.now() - t0;
    expect(booted.map((b) => b.name).sort()).toEqual(domains.map((d) => d.name).sort());
    const listed = await lv.listDomains();
    for (const d of domains) expect(listed).toContainEqual({ name: d.name, active: true });
    expect(log.lines.filter((l) => l.fields.phase === 'start')).toHaveLength(8);

    const t1 = performance.now();
    const result = await teardownJob(node, jobId, { graceful: new Set(), shutdownTimeoutMs: 2000, parallel: 8, log });
    const teardownMs = performance.now() - t1;
    console.log(`test driver: boot 8 VMs ${bootMs.toFixed(1)} ms, teardown ${teardownMs.toFixed(1)} ms`);

    expect(result.removed).toEqual(domains.map((d) => d.name).sort());
    expect(result.skipped).toEqual(lookalikes.slice().sort());
    const left = await names();
    for (const d of domains) expect(left).not.toContain(d.name);
    for (const name of lookalikes) expect(left).toContain(name);
    await expectForeignUntouched();
    // Every state-changing call went to one of the job's own VMs.
    const own = new Set(domains.map((d) => d.name));
    expect(node.calls.filter((c) => !own.has(c.name))).toEqual([]);
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.fields.vm).sort()).toEqual(lookalikes.slice().sort());

    const again = await teardownJob(node, jobId, { graceful: new Set(), shutdownTimeoutMs: 2000, parallel: 8, log });
    expect(again.removed).toEqual([]);
    await removeLookalikes(lookalikes);
  });

  it('VM 3 of 4 fails to define: bootVms names it after the others tried; teardown leaves nothing', async () => {
    const jobId = freshJobId();
    const domains = testDomains(testPlan(jobId, ['n01'], 4));
    // VM 3 reuses the UUID of the foreign domain "test": libvirt must refuse it, not redefine "test".
    const testUuid = /<uuid>([^<]+)<\/uuid>/.exec(testXml)?.[1] as string;
    const bad = domains[2] as { name: string; xml: string };
    domains[2] = { name: bad.name, xml: bad.xml.replace(/<uuid>[^<]+<\/uuid>/, `<uuid>${testUuid}</uuid>`) };
    const log = recordLog();

    const err = await bootVms(lv, domains, { parallel: 2, deadlineMs: 10_000, log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BootError);
    const boot = err as BootError;
    expect(boot.message).toContain(bad.name);
    expect(boot.message).toMatch(/define failed: libvirt define .*already defined with uuid/);
    expect(boot.failures.map((f) => [f.name, f.phase])).toEqual([[bad.name, 'define']]);
    expect(boot.booted.map((b) => b.name).sort()).toEqual([domains[0], domains[1], domains[3]].map((d) => d?.name).sort());
    await expectForeignUntouched();

    const result = await teardownJob(lv, jobId, { graceful: new Set(), shutdownTimeoutMs: 2000, parallel: 4, log });
    expect(result.removed).toHaveLength(3);
    expect((await names()).filter((n) => n.startsWith(domainPrefix(jobId)))).toEqual([]);
    await expectForeignUntouched();
  });

  it('shuts a VM with a persistent disk down cleanly, destroys the others, undefines all', async () => {
    const jobId = freshJobId();
    const domains = testDomains(testPlan(jobId, ['n01'], 2));
    const [first, second] = domains.map((d) => d.name) as [string, string];
    await bootVms(lv, domains, { parallel: 2, deadlineMs: 10_000, log: recordLog() });
    const node = spyNode(lv);
    const log = recordLog();

    const result = await teardownJob(node, jobId, { graceful: new Set([first]), shutdownTimeoutMs: 2000, parallel: 2, log });
    expect(result.removed).toEqual([first, second].sort());
    expect(node.calls.filter((c) => c.name === first).map((c) => c.op)).toEqual(['shutdown', 'undefine']);
    expect(node.calls.filter((c) => c.name === second).map((c) => c.op)).toEqual(['destroy', 'undefine']);
    expect(await lv.state(first)).toBe('missing');
    expect(log.lines.some((l) => l.msg === 'VM shut down' && l.fields.vm === first)).toBe(true);
  });

  it('teardown of a defined but stopped VM only undefines it', async () => {
    const jobId = freshJobId();
    const [d] = testDomains(testPlan(jobId, ['n01'], 1));
    await lv.define((d as { xml: string }).xml);
    const node = spyNode(lv);
    const result = await teardownJob(node, jobId, { graceful: new Set([d?.name as string]), shutdownTimeoutMs: 500, parallel: 1, log: recordLog() });
    expect(result.removed).toEqual([d?.name]);
    expect(node.calls.map((c) => c.op)).toEqual(['undefine']);
  });
});
