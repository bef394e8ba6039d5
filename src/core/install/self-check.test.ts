import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layoutAt } from './paths.js';
import { selfCheck } from './self-check.js';

describe.skipIf(process.geteuid?.() !== 0)('self-check', () => {
  const app = () => {
    const root = mkdtempSync(join(tmpdir(), 'vtq-self-'));
    chmodSync(root, 0o755);
    for (const d of ['dist', 'templates', 'templates-vm', 'hooks']) mkdirSync(join(root, d), { mode: 0o755 });
    writeFileSync(join(root, 'dist', 'hook.mjs'), '', { mode: 0o444 });
    writeFileSync(join(root, 'templates', 'x.hbs'), '', { mode: 0o444 });
    const config = join(root, 'config.yaml');
    writeFileSync(config, '', { mode: 0o644 });
    return { root, config };
  };

  it('passes a root-owned install with nothing group- or other-writable', () => {
    const { root, config } = app();
    expect(selfCheck(layoutAt(root), config)).toEqual([]);
  });

  it('names every writable or foreign-owned file, template, config and parent dir with its fix', () => {
    const { root, config } = app();
    chmodSync(join(root, 'templates', 'x.hbs'), 0o666);
    chownSync(join(root, 'dist', 'hook.mjs'), 1000, 1000);
    chmodSync(config, 0o664);
    chmodSync(join(root, 'hooks'), 0o777);
    const problems = selfCheck(layoutAt(root), config).map((p) => `${p.path.slice(root.length)}|${p.fix.split(' ')[0]}`);
    expect(problems.sort()).toEqual(['/config.yaml|chmod', '/dist/hook.mjs|chown', '/hooks|chmod', '/templates/x.hbs|chmod'].sort());
  });
});
