import Handlebars from 'handlebars';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VtorqueError } from '../errors.js';
import { shellQuote } from './escape.js';

export interface Renderer {
  /** Render `<dir>/<name>` with `vars`. `{{x}}` is XML/HTML-escaped; `{{sh x}}` is one shell word. */
  render(name: string, vars: object): string;
}

/**
 * One renderer over one root-owned template directory. Templates are compiled once per process
 * with strict mode, so a missing variable is an error rather than an empty string.
 */
export function createRenderer(dir: string): Renderer {
  const hb = Handlebars.create();
  hb.registerHelper('sh', (value: unknown) => new hb.SafeString(shellQuote(String(value))));
  hb.registerHelper('json', (value: unknown) => new hb.SafeString(JSON.stringify(value)));
  const cache = new Map<string, Handlebars.TemplateDelegate>();
  return {
    render(name, vars) {
      let template = cache.get(name);
      if (!template) {
        let source: string;
        try {
          source = readFileSync(join(dir, name), 'utf8');
        } catch (err) {
          throw new VtorqueError('INTERNAL', `template ${join(dir, name)} cannot be read`, { cause: err, fault: 'node' });
        }
        template = hb.compile(source, { strict: true, noEscape: false });
        cache.set(name, template);
      }
      return template(vars);
    },
  };
}
