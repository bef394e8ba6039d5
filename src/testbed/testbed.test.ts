import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../core/config/index.js';
import { ValidationError } from '../core/errors.js';
import { buildNetworkXml, resolveSandboxOptions } from '../sandbox/index.js';
import { nodeConfig } from './install.js';
import { renderHosts, testbedLayout } from './layout.js';
import { inNode } from './node-ns.js';
import { resolveTestbedOptions } from './options.js';
import { renderSshdConfig, sshArgv } from './sshd.js';
import { renderSlurmConf, slurmDaemonsOf } from './slurm.js';
import { daemonsOf, isSkeleton, renderMomConfig, TESTBED_PROLOGALARM } from './torque.js';

describe('testbed options and layout', () => {
  it('names nodes, addresses and guest subnets from the name and subnet', () => {
    const tb = resolveTestbedOptions({ nodes: 3 });
    expect(tb.nodes.map((n) => [n.name, n.address, n.guestSubnet])).toEqual([
      ['vtqtb-n1', '10.215.0.11', '10.215.1'],
      ['vtqtb-n2', '10.215.0.12', '10.215.2'],
      ['vtqtb-n3', '10.215.0.13', '10.215.3'],
    ]);
    expect(tb.hub).toEqual({ ns: 'vtqtb-hub', bridge: 'vtqtbhub0' });
    expect(renderHosts(tb)).toBe('127.0.0.1 localhost\n::1 localhost\n10.215.0.11 vtqtb-n1\n10.215.0.12 vtqtb-n2\n10.215.0.13 vtqtb-n3\n');
  });

  it.each([
    [{ nodes: 0 }, 'nodes'],
    [{ nodes: 9 }, 'nodes'],
    [{ nodes: 1.5 }, 'nodes'],
    [{ name: 'a-much-too-long-name' }, 'name'],
    [{ name: 'x;y' }, 'name'],
    [{ subnet: '10.215.0' }, 'subnet'],
    [{ stateDir: 'relative' }, 'stateDir'],
    [{ stateDir: `/${'a'.repeat(70)}` }, 'stateDir'],
    [{ torquePrefix: '/opt/../etc' }, 'torquePrefix'],
    [{ scheduler: 'pbspro' as never }, 'scheduler'],
  ])('refuses %j naming %s', (opts, key) => {
    try {
      resolveTestbedOptions(opts);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.key)).toContain(key);
    }
  });

  it('gives every node its own Torque home, install, /tmp and hosts at the paths a real node has', () => {
    const tb = resolveTestbedOptions({ nodes: 2 });
    const l = testbedLayout(tb);
    const [a, b] = tb.nodes.map((n) => l.node(n));
    expect(a?.binds.map((x) => x.target)).toEqual(['/etc/hosts', '/var/spool/torque-ref', '/var/lib/vtorque/testbed/vtqtb/install', '/tmp']);
    expect(a?.binds.map((x) => x.target)).toEqual(b?.binds.map((x) => x.target));
    expect(a?.binds.slice(1).map((x) => x.source)).not.toEqual(b?.binds.slice(1).map((x) => x.source));
    expect(inNode(42, ['hostname'])).toEqual(['nsenter', '-t', '42', '-m', '-u', '-n', '--', 'hostname']);
  });
});

describe('what each node runs', () => {
  const tb = resolveTestbedOptions({ nodes: 2 });
  const l = testbedLayout(tb);
  const [n1, n2] = tb.nodes;

  it('the head runs the server, the scheduler and trqauthd; every node a pbs_mom reporting to the head', () => {
    expect(daemonsOf(n1 as never)).toEqual(['trqauthd', 'pbs_server', 'pbs_sched', 'pbs_mom']);
    expect(daemonsOf(n2 as never)).toEqual(['pbs_mom']);
    expect(renderMomConfig(tb)).toContain('$pbsserver vtqtb-n1\n');
    expect(renderMomConfig(tb)).toContain(`$prologalarm ${TESTBED_PROLOGALARM}\n`);
  });

  it("a node's TORQUE_HOME takes the installed one's directories and configuration, never its runtime state", () => {
    for (const kept of ['pbs_environment', 'server_name', 'sched_priv/sched_config', 'sched_priv/resource_group']) expect(isSkeleton(kept, false), kept).toBe(true);
    for (const dir of ['server_priv', 'mom_priv/jobs', 'spool', 'server_logs']) expect(isSkeleton(dir, true), dir).toBe(true);
    for (const dropped of ['server_priv/serverdb', 'server_priv/nodes', 'server_priv/jobs/3.vm.JB', 'mom_priv/prologue', 'mom_priv/mom.lock', 'spool/3.vm.OU', 'mom_logs/20261203', 'sched_priv/sched.lock']) {
      expect(isSkeleton(dropped, false), dropped).toBe(false);
    }
  });

  it("sshd listens on the node's address only and lets in root with the testbed key only", () => {
    const text = renderSshdConfig(tb, n2 as never, l.node(n2 as never), l);
    expect(text).toMatch(/^ListenAddress 10\.215\.0\.12$/m);
    expect(text).toMatch(/^AuthorizedKeysFile \/var\/lib\/vtorque\/testbed\/vtqtb\/ssh\/authorized_keys$/m);
    expect(text).toMatch(/^PermitRootLogin prohibit-password$/m);
    expect(text).toMatch(/^PasswordAuthentication no$/m);
    expect(text).toMatch(/^AllowUsers root$/m);
  });

  it("each node's config is valid, its own, and reaches the others' agents with host keys pinned", () => {
    const configs = tb.nodes.map((n) => parseConfigText(yaml.dump(nodeConfig(tb, l.node(n), l)), `${n.name}.yaml`).config);
    const [c1, c2] = configs;
    expect(c1?.SPOOL_DIR).not.toBe(c2?.SPOOL_DIR);
    expect(c1?.VM_IMG_DIR).toBe(c2?.VM_IMG_DIR);
    expect(c1?.LIBVIRT_URI).toBe('qemu:///system');
    expect(c1?.PROLOGUE_TIMEOUT).toBeLessThan(TESTBED_PROLOGALARM - 10);
    expect(c1?.NODE_AGENT_COMMAND).toEqual([...sshArgv(l), 'root@{node}', '{node_binary}', '{vtorque}', 'node-agent', '--name', '{node}']);
    expect(sshArgv(l)).toContain('StrictHostKeyChecking=yes');
  });

  it("routes guests beyond the node: the node's libvirt network forwards in route mode, without NAT", () => {
    const xml = buildNetworkXml(resolveSandboxOptions({ name: 'vtqtb-n1', network: { name: tb.vmNetwork.name, bridge: tb.vmNetwork.bridge, subnet: '10.215.1', forward: 'route' } }).network);
    expect(xml).toContain("<forward mode='route'/>");
    expect(xml).not.toContain('nat');
    expect(buildNetworkXml(resolveSandboxOptions({}).network)).not.toContain('<forward');
  });
});

describe('a Slurm testbed', () => {
  const tb = resolveTestbedOptions({ nodes: 2, scheduler: 'slurm', stateDir: '/var/lib/vtorque/testbed/vtqtb' });
  const l = testbedLayout(tb);
  it('binds no Torque home into the nodes, runs slurmctld on the head and a slurmd everywhere', () => {
    expect(l.node(tb.nodes[0] as never).binds.map((b) => b.target)).toEqual(['/etc/hosts', l.installDir, '/tmp']);
    expect(tb.nodes.map((n) => slurmDaemonsOf(n))).toEqual([['slurmctld', 'slurmd'], ['slurmd']]);
  });
  it("writes slurm.conf with the head as controller, each node at its interconnect address, vTorque's include from the nodes' install", () => {
    const conf = renderSlurmConf(tb, l).split('\n');
    expect(conf).toContain('SlurmctldHost=vtqtb-n1(10.215.0.11)');
    expect(conf.filter((x) => x.startsWith('NodeName='))).toEqual([expect.stringMatching(/^NodeName=vtqtb-n1 NodeAddr=10\.215\.0\.11 CPUs=\d+ RealMemory=4000/), expect.stringMatching(/^NodeName=vtqtb-n2 NodeAddr=10\.215\.0\.12 /)]);
    expect(conf).toContain('SlurmdSpoolDir=/var/lib/vtorque/testbed/vtqtb/slurm/nodes/%n/spool');
    expect(conf).toContain(`Include ${l.installDir}/lib/vtorque/hooks/slurm.conf`);
    expect(conf.some((x) => x.startsWith('PrologFlags'))).toBe(false); // the include's
  });
});
