import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/errors.js';
import { qemuUser } from './kvm.js';
import { sandboxLayout, uriForLayout } from './layout.js';
import { buildNetworkXml } from './network-xml.js';
import { resolveSandboxOptions } from './options.js';
import { inSandbox, sandboxUri } from './index.js';

describe('sandbox options', () => {
  it('fills every default', () => {
    const sb = resolveSandboxOptions({});
    expect(sb).toMatchObject({
      name: 'vtq',
      stateDir: '/var/lib/vtorque/sandbox/vtq',
      network: { name: 'vtq-net', bridge: 'vtqbr0', subnet: '10.213.0', domain: 'jobs.test', hosts: [] },
      kvm: 'auto',
      deleteNetns: false,
    });
    expect(sandboxUri()).toBe('qemu:///system?socket=/var/lib/vtorque/sandbox/vtq/run/libvirt-sock');
  });

  it.each([
    [{ name: '-x' }, 'name'],
    [{ stateDir: 'relative' }, 'stateDir'],
    [{ stateDir: '/var/lib/libvirt/x' }, 'stateDir'],
    [{ stateDir: `/${'a'.repeat(100)}` }, 'stateDir'],
    [{ network: { name: 'default' } }, 'network.name'],
    [{ network: { bridge: 'a-very-long-bridge0' } }, 'network.bridge'],
    [{ network: { subnet: '10.213' } }, 'network.subnet'],
    [{ network: { hosts: [{ mac: '52:54:00:aa:00:01', name: 'job1', ip: '10.213.0.150' }] } }, 'network.hosts[0].ip'],
  ])('refuses %j (%s)', (opts, key) => {
    try {
      resolveSandboxOptions(opts);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.key)).toContain(key);
    }
  });

  it('shadows exactly the libvirt system directories, from stateDir', () => {
    const layout = sandboxLayout({ stateDir: '/s' });
    expect(layout.binds.map((b) => `${b.target}<-${b.source}`)).toEqual([
      '/etc/libvirt<-/s/etc',
      '/run/libvirt<-/s/run',
      '/var/lib/libvirt<-/s/lib',
      '/var/cache/libvirt<-/s/cache',
      '/var/log/libvirt<-/s/log',
    ]);
    expect(uriForLayout(layout)).toBe('qemu:///system?socket=/s/run/libvirt-sock');
  });

  it('runs commands in the netns by argv', () => {
    expect(inSandbox('vtq', 'ssh', ['-i', 'k', 'job@10.213.0.100'])).toEqual(['ip', 'netns', 'exec', 'vtq', 'ssh', '-i', 'k', 'job@10.213.0.100']);
    expect(() => inSandbox('--all', 'true', [])).toThrow(ValidationError);
  });

  it('reads the QEMU user from qemu.conf, with Debian defaults', () => {
    expect(qemuUser('/nonexistent')).toEqual({ user: 'libvirt-qemu', group: 'libvirt-qemu' });
  });
});

describe('buildNetworkXml', () => {
  it('is an isolated network: no forward, DHCP .100-.199, local-only domain, fixed hosts, dnsmasq without the 3 s ping check', () => {
    const { network } = resolveSandboxOptions({ network: { hosts: [{ mac: '52:54:00:aa:00:01', name: 'job1', ip: '10.213.0.11' }] } });
    expect(buildNetworkXml(network)).toBe(
      [
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>",
        '  <name>vtq-net</name>',
        "  <bridge name='vtqbr0' stp='off' delay='0'/>",
        "  <domain name='jobs.test' localOnly='yes'/>",
        "  <ip address='10.213.0.1' netmask='255.255.255.0'>",
        '    <dhcp>',
        "      <range start='10.213.0.100' end='10.213.0.199'/>",
        "      <host mac='52:54:00:aa:00:01' name='job1' ip='10.213.0.11'/>",
        '    </dhcp>',
        '  </ip>',
        '  <dnsmasq:options>',
        "    <dnsmasq:option value='no-ping'/>",
        '  </dnsmasq:options>',
        '</network>',
        '',
      ].join('\n'),
    );
  });
});
