import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_FIELDS, OBSOLETE_KEYS } from '../../core/config/index.js';
import {
  CONFIG_REFERENCE_BEGIN,
  CONFIG_REFERENCE_END,
  configGroups,
  currentConfigReference,
  renderConfigReference,
  spliceConfigReference,
} from './reference.js';

const ADMIN_MD = new URL('../../../doc/admin.md', import.meta.url);
const SCHEMA = readFileSync(new URL('../../core/config/schema.ts', import.meta.url), 'utf8');

describe('configuration reference in doc/admin.md', () => {
  it('is what the schema renders (run `npm run gen:doc` after changing the schema)', () => {
    const doc = readFileSync(ADMIN_MD, 'utf8');
    const current = currentConfigReference(doc);
    const rendered = renderConfigReference();
    if (current !== rendered) {
      expect.fail(`doc/admin.md's configuration reference (between ${CONFIG_REFERENCE_BEGIN} and ${CONFIG_REFERENCE_END}) differs from the schema: run \`npm run gen:doc\``);
    }
  });

  it('lists every key once, in schema order, under the schema\'s group comments, then the obsolete keys', () => {
    const groups = configGroups(SCHEMA);
    expect(groups.flatMap((g) => g.keys)).toEqual(Object.keys(CONFIG_FIELDS));
    expect(groups[0]).toMatchObject({ title: 'cluster', note: '' });
    expect(groups.find((g) => g.keys.includes('PROLOGUE_TIMEOUT'))).toMatchObject({ title: 'timeouts', note: 'seconds' });
    const text = renderConfigReference(SCHEMA);
    const positions = Object.keys(CONFIG_FIELDS).map((k) => text.indexOf(`* \`${k}\` (default `));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(text).toContain('* `PROLOGUE_TIMEOUT` (default `280`): overall prologue deadline');
    expect(text).toContain('  Accepts an integer from 10 to 86400.');
    expect(text).toContain('* `SW_PACKAGES_DEBIAN` (default `[]`)');
    expect(text).toContain("* `DISABLED_HOSTS_LIST` (default `''`)");
    const obsolete = text.slice(text.indexOf('#### Obsolete keys'));
    for (const key of Object.keys(OBSOLETE_KEYS)) expect(obsolete).toContain(`| \`${key}\` |`);
    expect(obsolete).toContain('NODE_AGENT_COMMAND');
  });

  it('refuses a schema source whose keys it cannot read exactly', () => {
    expect(() => configGroups(SCHEMA.replace(/^ {2}MAC_PREFIX:/m, '    MAC_PREFIX:'))).toThrow(/missing: MAC_PREFIX/);
    expect(() => configGroups('export const X = {};')).toThrow(/CONFIG_FIELDS/);
  });

  it('rewrites only the span between the markers', () => {
    const doc = `# A\n\ntext before\n${CONFIG_REFERENCE_BEGIN}\nold\n${CONFIG_REFERENCE_END}\ntext after\n`;
    expect(spliceConfigReference(doc, 'new\n')).toBe(`# A\n\ntext before\n${CONFIG_REFERENCE_BEGIN}\nnew\n${CONFIG_REFERENCE_END}\ntext after\n`);
    expect(currentConfigReference(spliceConfigReference(doc, 'new\n'))).toBe('new\n');
    expect(() => spliceConfigReference('no markers', 'x')).toThrow(/exactly one/);
    expect(() => spliceConfigReference(`${CONFIG_REFERENCE_END}\n${CONFIG_REFERENCE_BEGIN}\n`, 'x')).toThrow(/before/);
  });
});
