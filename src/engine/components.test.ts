import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../core/config/validate.js';
import type { SiteConfig } from '../core/config/schema.js';
import { componentsFor, componentStops, startComponents, stopComponentCommands, type ComponentJob } from './components.js';
import { baseRequest } from '../../test/engine/engine-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'vtq-comp-'));
const script = (name: string, body: string) => {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
};
const record = script('record', `echo "$1 $VTORQUE_PHASE $VTORQUE_JOB_ID $VTORQUE_JOB_OWNER $VTORQUE_IOCM_MIN_CORES $VTORQUE_SNAP_TAG" >> ${dir}/log`);
const fail = script('fail', 'echo broken >&2; exit 3');
const slow = script('slow', 'sleep 5');
const log = { info: () => undefined, warn: () => undefined };
const job: ComponentJob = { jobId: '7.srv', user: 'alice', node: 'node01', request: { ...baseRequest, iocm: true, vrdma: true, iocm_min_cores: 2 } };
const cfg = (over: Partial<SiteConfig>): SiteConfig => ({ ...defaultConfig(), COMPONENT_TIMEOUT: 1, ...over });
const lines = () => readFileSync(join(dir, 'log'), 'utf8').trim().split('\n').map((l) => l.trimEnd());

describe('node components', () => {
  it('run the admin commands with the job as environment, only where enabled and the node regex matches', async () => {
    const c = cfg({
      IOCM_ENABLED: true, IOCM_NODES: 'node0[1-4]', IOCM_START_CMD: [record, 'iocm'], IOCM_STOP_CMD: [record, 'iocm'],
      VRDMA_ENABLED: true, VRDMA_NODES: 'gpu.*', VRDMA_START_CMD: [record, 'vrdma'],
      SNAP_MONITORING_ENABLED: true, SNAP_START_CMD: [record, 'snap'], SNAP_STOP_CMD: [record, 'snap'],
    });
    expect(componentsFor(c, job).map((x) => x.name)).toEqual(['iocm', 'snap']);
    expect(await startComponents(c, job, log)).toEqual(['iocm', 'snap']);
    expect(await stopComponentCommands(componentStops(c, job), c.COMPONENT_TIMEOUT, log)).toEqual({ failed: [], problems: [] });
    expect(lines()).toEqual([
      'iocm start 7.srv alice 2',
      'snap start 7.srv alice  snapTask-alice-7.srv',
      'snap stop 7.srv alice  snapTask-alice-7.srv',
      'iocm stop 7.srv alice 2',
    ]);
  });

  it('a failing start stops what already started; a hung command is killed at COMPONENT_TIMEOUT', async () => {
    const c = cfg({ VRDMA_ENABLED: true, VRDMA_START_CMD: [record, 'vrdma'], VRDMA_STOP_CMD: [record, 'vrdma-undo'], IOCM_ENABLED: true, IOCM_START_CMD: [fail] });
    await expect(startComponents(c, job, log)).rejects.toThrow(/component iocm failed to start: .*exit code 3: broken/);
    expect(lines().slice(-2)).toEqual(['vrdma start 7.srv alice', 'vrdma-undo stop 7.srv alice']);
    const t0 = Date.now();
    await expect(startComponents(cfg({ IOCM_ENABLED: true, IOCM_START_CMD: [slow] }), job, log)).rejects.toThrow(/timed out/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('nothing runs for a job that did not ask, or where the feature is off', () => {
    expect(componentsFor(cfg({ IOCM_ENABLED: true }), { ...job, request: baseRequest })).toEqual([]);
    expect(componentsFor(cfg({ IOCM_ENABLED: false }), job)).toEqual([]);
  });
});
