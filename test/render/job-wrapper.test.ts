import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanDirectives } from '../../src/torque/qsub/index.js';
import { buildWrapper } from '../../src/cli/vsub/wrapper.js';
import { decodeJobScript } from '../../src/core/contract/job-script.v1.js';
import { defaultConfig } from '../../src/core/config/validate.js';
import { createRenderer } from '../../src/core/render/index.js';
import type { VmRequest } from '../../src/core/request/types.js';
import { REPO } from '../helpers/site.js';

const c = defaultConfig();
const hostile = `'"]]></name>$(rm -rf ~)\`id\`\u00e9\u65e5\u672c\u{1F600}`;
const request: VmRequest = {
  version: 1, img: c.IMG_DEFAULT, distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 512, vms_per_node: 1, vcpu_pinning: false,
  disk: null, vm_prologue: { path: '/home/a/pre.sh', content: `echo ${hostile}\n` }, vm_epilogue: null, fs_type: 'sharedfs',
  metadata: null, vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};

describe('job wrapper render', () => {
  it('carries hostile script text and directives as data; the wrapper stays a valid sh script', () => {
    const script = `#!/bin/bash\n#PBS -N "${hostile.replace(/"/g, '')}"\n#PBS -vm vcpus=1\necho ${hostile}\n`;
    const directives = scanDirectives(script, '#PBS', 'job.sh');
    const wrapper = buildWrapper(
      { request, script, directives, directivePrefix: '#PBS', nodePath: '/usr/bin/node', jobRunBundle: "/opt/v torque/it's/dist/job-run.mjs" },
      createRenderer(join(REPO, 'templates')),
    );
    const lines = wrapper.split('\n');
    expect(lines[0]).toBe('#!/bin/sh');
    expect(lines[1]).toMatch(/^#VTORQUE-REQUEST v1 [A-Za-z0-9_-]+$/);
    expect(lines[2]).toBe(`#PBS -N "${hostile.replace(/"/g, '')}"`);
    expect(lines.filter((l) => !l.startsWith('#'))).toEqual([`exec /usr/bin/node '/opt/v torque/it'\\''s/dist/job-run.mjs' "$@"`, '']);
    expect(decodeJobScript(wrapper, 'w')).toEqual({ request, script });
    const dir = mkdtempSync(join(tmpdir(), 'vtq-wrap-'));
    writeFileSync(join(dir, 'w.sh'), wrapper);
    expect(spawnSync('sh', ['-n', join(dir, 'w.sh')]).status).toBe(0);
    expect(wrapper.replace(/v1 [A-Za-z0-9_-]+/g, 'v1 <b64>')).toMatchSnapshot();
  });

  it('refuses a directive prefix that would read its own lines', () => {
    expect(() =>
      buildWrapper({ request, script: '', directives: [], directivePrefix: '#V', nodePath: '/n', jobRunBundle: '/b' }, createRenderer(join(REPO, 'templates'))),
    ).toThrow(/directive prefix/);
  });
});
