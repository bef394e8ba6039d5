import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../core/config/validate.js';
import { customMacs } from './custom-mac.js';
import { vmNodeFile } from './guest-files.js';

const dir = mkdtempSync(join(tmpdir(), 'vtq-mac-'));
const script = (body: string) => {
  const p = join(dir, `s${Math.random().toString(16).slice(2)}`);
  writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
};

describe('IP_TO_MAC_SCRIPT', () => {
  it('is asked once per VM with node, VMs per node and VM number, per target node', async () => {
    const s = script('case $1 in n1) n=1;; n2) n=2;; esac; printf "52:54:00:0%s:%02x:%02x\\n" "$n" "$2" "$3"');
    const mac = await customMacs({ ...defaultConfig(), CUSTOM_IP_MAPPING: true, IP_TO_MAC_SCRIPT: s }, ['n1', 'n2'], 2);
    expect([mac('n1', 1), mac('n1', 2), mac('n2', 1)]).toEqual(['52:54:00:01:02:01', '52:54:00:01:02:02', '52:54:00:02:02:01']);
  });
  it('a multicast or malformed answer, or a failing script, is a clear error', async () => {
    const c = { ...defaultConfig(), CUSTOM_IP_MAPPING: true };
    await expect(customMacs({ ...c, IP_TO_MAC_SCRIPT: script('echo 01:00:5e:00:00:01') }, ['n1'], 1)).rejects.toThrow(/expected one unicast MAC/);
    await expect(customMacs({ ...c, IP_TO_MAC_SCRIPT: script('echo nonsense') }, ['n1'], 1)).rejects.toThrow(/IP_TO_MAC_SCRIPT printed "nonsense"/);
    await expect(customMacs({ ...c, IP_TO_MAC_SCRIPT: script('exit 4') }, ['n1'], 1)).rejects.toThrow(/failed for node n1 VM 1/);
  });
});

describe('VM node file', () => {
  it('lists each VM address once per vCPU, in rank order', () => {
    expect(vmNodeFile([{ ip: '10.0.0.5', vcpus: 2 }, { ip: '10.0.0.6', vcpus: 1 }])).toBe('10.0.0.5\n10.0.0.5\n10.0.0.6\n');
  });
});
