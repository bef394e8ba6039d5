import { describe, expect, it } from 'vitest';
import { formatHms, parseDuration, resolveResources, resourcesUsed, singleNodePpn } from './resources.js';

const list = (entries: [string, string][]): Map<string, string> => new Map(entries);

describe('resolveResources', () => {
  it('adds neednodes after nodes and normalises walltime, keeping the order given', () => {
    const r = resolveResources(list([['nodes', '1:ppn=2'], ['mem', '2048mb'], ['walltime', '90']]));
    expect(r).toEqual({ text: 'nodes=1:ppn=2,neednodes=1:ppn=2,mem=2048mb,walltime=00:01:30', nodes: '1:ppn=2', ppn: 2, np: 2, walltimeSec: 90 });
  });

  it('gives a job without nodes the server default nodes=1', () => {
    expect(resolveResources(list([['walltime', '01:00:00']]))).toMatchObject({ text: 'walltime=01:00:00,nodes=1,neednodes=1', nodes: '1', ppn: 1 });
    expect(resolveResources(list([]))).toMatchObject({ text: 'nodes=1,neednodes=1', walltimeSec: null });
  });

  it('uses procs as the core count when there is no nodes request', () => {
    expect(resolveResources(list([['procs', '3']]))).toMatchObject({ text: 'procs=3', nodes: null, ppn: 3 });
  });

  it('lets --walltime replace the requested walltime', () => {
    expect(resolveResources(list([['walltime', '10:00'], ['nodes', '1']]), 5)).toMatchObject({ text: 'walltime=00:00:05,nodes=1,neednodes=1', walltimeSec: 5 });
    expect(resolveResources(list([]), 3600).text).toBe('walltime=01:00:00,nodes=1,neednodes=1');
  });

  it('refuses multi-node requests and bad values', () => {
    expect(() => resolveResources(list([['nodes', '2:ppn=1']]))).toThrow(/single-node/);
    expect(() => singleNodePpn('a+b')).toThrow(/single-node/);
    expect(singleNodePpn('node07:ppn=4:gpus=1')).toBe(4);
    expect(() => resolveResources(list([['walltime', 'soon']]))).toThrow(/walltime=soon/);
  });
});

describe('durations', () => {
  it('parses and formats like Torque', () => {
    expect([parseDuration('45'), parseDuration('2:03'), parseDuration('1:00:01'), parseDuration('x'), parseDuration('1:2:3:4')]).toEqual([45, 123, 3601, null, null]);
    expect(formatHms(3 * 3600 + 62)).toBe('03:01:02');
    expect(resourcesUsed(61)).toBe('cput=00:00:00,vmem=0kb,walltime=00:01:01,mem=0kb,energy_used=0');
  });
});
