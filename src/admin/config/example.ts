import yaml from 'js-yaml';
import { CONFIG_FIELDS, type ConfigKey } from '../../core/config/index.js';

/**
 * The documented example config, generated from the schema table so docs and code cannot drift:
 * every key commented out with its default, what it accepts and what it does.
 */
export function renderExampleConfig(): string {
  const lines = [
    '# vTorque site configuration (/etc/vtorque/config.yaml).',
    '# Every key is optional; a commented line shows the built-in default. Check with `vtorque config check`.',
    '',
  ];
  for (const key of Object.keys(CONFIG_FIELDS) as ConfigKey[]) {
    const field = CONFIG_FIELDS[key];
    lines.push(`# ${field.doc}`, `#   accepts ${field.expected}`);
    const dumped = yaml.dump({ [key]: field.default }, { lineWidth: -1, flowLevel: 1 }).trimEnd();
    lines.push(...dumped.split('\n').map((l) => `#${l}`), '');
  }
  return lines.join('\n');
}
