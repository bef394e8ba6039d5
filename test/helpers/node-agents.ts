import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../../src/core/config/index.js';
import { REPO } from './site.js';

/** What a node agent of test/engine/node-agent.fixture.ts reports as its host (the planner's view). */
export const AGENT_CAPACITY = { cores: 16, memMiB: 65536, numa: { 0: [...Array(16).keys()] } };

/**
 * A NODE_AGENT_COMMAND (no braces but `{node}`, as the config takes it) that starts, for each node
 * named in `nodes`, a node agent over libvirt's test driver with that node's config: its own
 * process, libvirt and spool, as on another host (test/engine/node-agent.fixture.ts). Any other
 * name fails as ssh fails for a host it cannot resolve. `calls` gives a node the name its agent
 * calls itself (default: the node's own).
 */
export function agentCommand(dir: string, nodes: Readonly<Record<string, SiteConfig>>, calls: Readonly<Record<string, string>> = {}): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  for (const [name, config] of Object.entries(nodes)) {
    writeFileSync(join(dir, `${name}.json`), JSON.stringify({ name: calls[name] ?? name, config, capacity: AGENT_CAPACITY }), { mode: 0o644 });
  }
  const script = join(dir, 'agent.sh');
  const tsx = join(REPO, 'node_modules', '.bin', 'tsx');
  const fixture = join(REPO, 'test', 'engine', 'node-agent.fixture.ts');
  writeFileSync(
    script,
    `#!/bin/sh\n[ -f '${dir}'/"$1".json ] || { echo "ssh: Could not resolve hostname $1: Name or service not known" >&2; exit 255; }\nexec '${tsx}' '${fixture}' "$(cat '${dir}'/"$1".json)"\n`,
    { mode: 0o755 },
  );
  return ['/bin/sh', script, '{node}'];
}
