import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/validate.js';
import { decodeJobScript, encodeRequestLine, encodeScriptLine, hasRequestLine, REQUEST_MARKER } from './job-script.v1.js';
import type { VmRequest } from '../request/types.js';

const c = defaultConfig();
const request: VmRequest = {
  version: 1, img: c.IMG_DEFAULT, distro: 'debian', arch: 'x86_64', vcpus: 2, ram: 1024, vms_per_node: 1,
  vcpu_pinning: true, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};
const job = (req: unknown, script = 'echo hi\n') =>
  `#!/bin/sh\n${REQUEST_MARKER}${Buffer.from(JSON.stringify(req)).toString('base64url')}\n#PBS -N x\n${encodeScriptLine(script)}\nexec true\n`;

describe('job script contract v1', () => {
  it('round-trips request and script, including hostile script text', () => {
    const script = "#!/bin/sh\necho 'a' \"$(id)\" ]]> </name>\n\u65e5\u672c\n";
    const text = `#!/bin/sh\n${encodeRequestLine(request)}\n${encodeScriptLine(script)}\n`;
    expect(decodeJobScript(text, 'sc')).toEqual({ request, script });
  });
  it('only line 2 marks a VM job', () => {
    expect(hasRequestLine(job(request))).toBe(true);
    expect(decodeJobScript(`#!/bin/sh\necho\n${encodeRequestLine(request)}\n`, 'sc')).toBeNull();
    expect(decodeJobScript('echo plain\n', 'sc')).toBeNull();
  });
  it('refuses extra keys, wrong types, out-of-range values and bad encodings', () => {
    expect(() => decodeJobScript(job({ ...request, extra: 1 }), 'sc')).toThrow();
    expect(() => decodeJobScript(job({ ...request, vcpus: 1e9 }), 'sc')).toThrow(/vcpus/);
    expect(() => decodeJobScript(job({ ...request, img: 'a\nb.img' }), 'sc')).toThrow(/img/);
    expect(() => decodeJobScript(job({ ...request, version: 2 }), 'sc')).toThrow(/version/);
    expect(() => decodeJobScript(`#!/bin/sh\n${REQUEST_MARKER}!!!\n${encodeScriptLine('x')}\n`, 'sc')).toThrow(/base64url JSON/);
    expect(() => decodeJobScript(`#!/bin/sh\n${encodeRequestLine(request)}\n`, 'sc')).toThrow(/malformed/);
  });
});
