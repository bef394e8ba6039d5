import { describe, expect, it } from 'vitest';
import { checkDomainSpec, MAX_DAC_ID, parseOwnerMetadata, type DomainSpec } from './index.js';

const spec: DomainSpec = {
  name: 'vtq-1-n1-0',
  uuid: '6f1c1b9e-3f43-4b4e-9a53-0c2f0e6b7a01',
  type: 'qemu',
  memoryMiB: 512,
  vcpus: 1,
  vcpuPins: [{ vcpu: 0, cpuset: '1' }],
  machine: 'q35',
  arch: 'x86_64',
  boot: null,
  disks: [{ file: '/var/spool/vtorque/jobs/1/d.qcow2', format: 'qcow2', target: 'vda', readonly: false, backing: null }],
  net: { kind: 'bridge', bridge: 'br0', mac: '52:54:00:00:00:01' },
  consoleLog: '/var/log/vtorque/c.log',
  tcgTbCacheMiB: 0,
  virtiofs: [],
  owner: { job: '1.srv', user: 'alice', node: 'n1', index: 0 },
  dac: null,
};

const refused = (patch: object) => expect(() => checkDomainSpec({ ...spec, ...patch } as DomainSpec)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));

describe('checkDomainSpec', () => {
  it('accepts a plain spec', () => {
    expect(() => checkDomainSpec(spec)).not.toThrow();
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1024', 2 ** 53])('refuses memoryMiB = %s', (memoryMiB) => refused({ memoryMiB }));
  it.each([0, 0.5, -2])('refuses vcpus = %s', (vcpus) => refused({ vcpus }));

  it('refuses bad pins, indices and sizes', () => {
    refused({ vcpuPins: [{ vcpu: 1, cpuset: '0' }] });
    refused({ vcpuPins: [{ vcpu: -1, cpuset: '0' }] });
    refused({ vcpuPins: [{ vcpu: 0, cpuset: "0' evil='1" }] });
    refused({ emulatorCpuset: '' });
    refused({ numaNodeset: '0;1' });
    refused({ tcgTbCacheMiB: -1 });
    refused({ owner: { ...spec.owner, index: -1 } });
    refused({ owner: { ...spec.owner, job: '' } });
  });

  it('refuses relative paths and ".." segments', () => {
    refused({ consoleLog: 'c.log' });
    refused({ disks: [spec.disks[0], { ...spec.disks[0], target: 'vdb', file: '/var/spool/../../etc/shadow' }] });
    refused({ disks: [{ ...spec.disks[0], file: '' }] });
    refused({ boot: { kernel: 'vmlinuz', initrd: '/i', cmdline: 'quiet' } });
    refused({ virtiofs: [{ dir: 'home', tag: 'home' }] });
  });

  it('accepts a DAC label of non-negative 32-bit ids below (uid_t)-1', () => {
    for (const dac of [{ uid: 1000, gid: 1000 }, { uid: 0, gid: 0 }, { uid: MAX_DAC_ID, gid: MAX_DAC_ID }]) {
      expect(() => checkDomainSpec({ ...spec, dac })).not.toThrow();
    }
    expect(MAX_DAC_ID).toBe(2 ** 32 - 2);
  });

  it.each([-1, 1.5, 2 ** 32 - 1, 2 ** 32, Number.NaN, Number.POSITIVE_INFINITY, '1000', '+1000', null, undefined])('refuses a DAC id = %s', (id) => {
    refused({ dac: { uid: id, gid: 1000 } });
    refused({ dac: { uid: 1000, gid: id } });
  });

  it('refuses a DAC label that is neither null nor an object', () => {
    refused({ dac: undefined });
    refused({ dac: '1000:1000' });
    refused({ dac: 1000 });
  });

  it('refuses malformed identifiers', () => {
    refused({ uuid: 'not-a-uuid' });
    refused({ type: 'lxc' });
    refused({ machine: "q35' foo='" });
    refused({ net: { kind: 'bridge', bridge: 'br0 evil', mac: '52:54:00:00:00:01' } });
    refused({ net: { kind: 'network', network: 'jobnet', mac: '53:54:00:00:00:01' } });
    refused({ net: { kind: 'macvtap', mac: '52:54:00:00:00:01' } });
    refused({ disks: [{ ...spec.disks[0], target: 'hda' }] });
    refused({ disks: [spec.disks[0], spec.disks[0]] });
    refused({ virtiofs: [{ dir: '/h', tag: 'x'.repeat(37) }] });
  });
});

const NS = 'urn:x-vtorque:job:1';
const owner = `<vtq:job xmlns:vtq="${NS}" id="1.srv" owner="alice" node="n1" index="2"/>`;
const doc = (metadata: string, rest = '') => `<domain type='qemu'>\n  <name>x</name>${rest}\n  <metadata>\n    ${metadata}\n  </metadata>\n</domain>\n`;

describe('parseOwnerMetadata', () => {
  it('reads our element, as written or as libvirt dumps it', () => {
    expect(parseOwnerMetadata(doc(owner))).toEqual({ job: '1.srv', user: 'alice', node: 'n1', index: 2 });
    const dumped = doc(`<vtq:job xmlns:vtq='${NS}' index='0' node='n&#10;1' owner="a&apos;b &quot;c&quot; &lt;d&gt; &amp;amp; &#x65E5;" id="7"/>`);
    expect(parseOwnerMetadata(`<?xml version="1.0"?>\n${dumped}`)).toEqual({ job: '7', user: `a'b "c" <d> &amp; 日`, node: 'n\n1', index: 0 });
  });

  it('normalises literal whitespace in attribute values as XML does', () => {
    expect(parseOwnerMetadata(doc(`<vtq:job xmlns:vtq="${NS}" id="a\tb" owner="c\r\nd" node="n" index="1"/>`))?.job).toBe('a b');
    expect(parseOwnerMetadata(doc(`<vtq:job xmlns:vtq="${NS}" id="a" owner="c\r\nd" node="n" index="1"/>`))?.user).toBe('c d');
  });

  it('is not fooled by the same text elsewhere', () => {
    const escaped = owner.replace(/</g, '&lt;').replace(/>/g, '&gt;');
    expect(parseOwnerMetadata(doc('', `<description>${escaped}</description>`))).toBeNull();
    expect(parseOwnerMetadata(doc(`<!-- ${owner} -->`))).toBeNull();
    expect(parseOwnerMetadata(doc(`<![CDATA[${owner}]]>`))).toBeNull();
    expect(parseOwnerMetadata(doc('', `<devices>${owner}</devices>`))).toBeNull();
    expect(parseOwnerMetadata(doc(`<other>${owner}</other>`))).toBeNull();
    expect(parseOwnerMetadata(`<other>${doc(owner)}</other>`)).toBeNull();
    expect(parseOwnerMetadata(doc(owner.replace(NS, 'urn:x-vtorque:job:2')))).toBeNull();
    expect(parseOwnerMetadata(doc(owner.replace(/vtq:job xmlns:vtq/, 'vtq:job xmlns:other')))).toBeNull();
    expect(parseOwnerMetadata(doc(owner.replace(/vtq:/g, 'x:')))).toBeNull();
  });

  it('gives up on ambiguous or malformed documents', () => {
    expect(parseOwnerMetadata(doc(owner + owner))).toBeNull();
    expect(parseOwnerMetadata(`<!DOCTYPE domain [<!ENTITY e "x">]>${doc(owner)}`)).toBeNull();
    expect(parseOwnerMetadata(doc(owner).replace('</domain>', ''))).toBeNull();
    expect(parseOwnerMetadata(doc(owner.replace('index="2"', 'index="2" index="3"')))).toBeNull();
    expect(parseOwnerMetadata(doc(owner.replace('index="2"', 'index="-2"')))).toBeNull();
    expect(parseOwnerMetadata(doc(owner.replace(' node="n1"', '')))).toBeNull();
    expect(parseOwnerMetadata(doc(owner.replace('alice', 'a&b')))).toBeNull();
    expect(parseOwnerMetadata(doc(owner.replace('alice', 'a&#0;b')))).toBeNull();
    expect(parseOwnerMetadata('')).toBeNull();
  });
});
