import { spawnSync } from 'node:child_process';

/** One element of a checked document: its slash path from the root, decoded attributes and direct text. */
export interface XmlElement {
  readonly name: string;
  readonly path: string;
  readonly attrs: Readonly<Record<string, string>>;
  text: string;
}

const NAME = '[A-Za-z_][A-Za-z0-9._:-]*';
const START_TAG = new RegExp(`<(${NAME})((?:\\s+${NAME}\\s*=\\s*(?:"[^"<]*"|'[^'<]*'))*)\\s*(/?)>`, 'y');
const ATTRIBUTE = new RegExp(`\\s+(${NAME})\\s*=\\s*(?:"([^"<]*)"|'([^'<]*)')`, 'y');
const END_TAG = new RegExp(`</(${NAME})\\s*>`, 'y');
const REFERENCE = /&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));/g;
const INVALID = /[\0-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(raw: string, where: string): string {
  if (raw.replace(REFERENCE, '').includes('&')) throw new Error(`bare & in ${where}`);
  return raw.replace(REFERENCE, (_m, hex?: string, dec?: string, named?: string) =>
    named ? (ENTITIES[named] as string) : String.fromCodePoint(parseInt(hex ?? dec ?? '', hex ? 16 : 10)),
  );
}

/**
 * A deliberately strict, small XML 1.0 well-formedness checker for what our templates produce: one
 * root, balanced tags, quoted attributes without duplicates, valid references, no `]]>` in text, no
 * characters XML cannot carry, no DOCTYPE or CDATA. Throws on the first problem; returns every element.
 */
export function checkWellFormed(xml: string): XmlElement[] {
  if (INVALID.test(xml)) throw new Error('character not allowed in XML');
  const elements: XmlElement[] = [];
  const stack: XmlElement[] = [];
  let roots = 0;
  let pos = xml.startsWith('<?xml') ? xml.indexOf('?>') + 2 : 0;
  while (pos < xml.length) {
    const lt = xml.indexOf('<', pos);
    const text = xml.slice(pos, lt < 0 ? xml.length : lt);
    if (text.includes(']]>')) throw new Error(']]> in text');
    const top = stack[stack.length - 1];
    if (top) top.text += decode(text, `text of ${top.path}`);
    else if (text.trim() !== '') throw new Error(`text outside the root: ${JSON.stringify(text)}`);
    if (lt < 0) break;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt + 4);
      if (end < 0 || xml.slice(lt + 4, end).includes('--')) throw new Error('bad comment');
      pos = end + 3;
    } else if (xml.startsWith('<!', lt) || xml.startsWith('<?', lt)) {
      throw new Error(`unexpected markup at ${lt}`);
    } else if (xml.startsWith('</', lt)) {
      END_TAG.lastIndex = lt;
      const m = END_TAG.exec(xml);
      const open = stack.pop();
      if (!m || !open || open.name !== m[1]) throw new Error(`unbalanced end tag at ${lt}: ${xml.slice(lt, lt + 40)}`);
      pos = END_TAG.lastIndex;
    } else {
      START_TAG.lastIndex = lt;
      const m = START_TAG.exec(xml);
      if (!m) throw new Error(`bad start tag at ${lt}: ${xml.slice(lt, lt + 60)}`);
      if (stack.length === 0 && ++roots > 1) throw new Error('more than one root element');
      const element: XmlElement = { name: m[1] as string, path: [...stack.map((e) => e.name), m[1]].join('/'), attrs: attributes(m[2] ?? '', m[1] as string), text: '' };
      elements.push(element);
      if (m[3] !== '/') stack.push(element);
      pos = START_TAG.lastIndex;
    }
  }
  if (stack.length > 0 || roots !== 1) throw new Error('unclosed element or no root');
  return elements;
}

function attributes(raw: string, tag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  ATTRIBUTE.lastIndex = 0;
  for (let m = ATTRIBUTE.exec(raw); m; m = ATTRIBUTE.exec(raw)) {
    const name = m[1] as string;
    if (Object.hasOwn(attrs, name)) throw new Error(`duplicate attribute ${name} on ${tag}`);
    attrs[name] = decode(m[2] ?? m[3] ?? '', `${tag}@${name}`);
  }
  return attrs;
}

/**
 * Parse with a real XML parser when the machine has one: xmllint, else Python's expat. Returns the
 * tool used, or null when neither is installed; throws when the tool rejects the document.
 */
export function externalWellFormed(xml: string): 'xmllint' | 'python3' | null {
  const tools: [string, string[]][] = [
    ['xmllint', ['--noout', '-']],
    ['python3', ['-c', 'import sys, xml.dom.minidom; xml.dom.minidom.parseString(sys.stdin.buffer.read())']],
  ];
  for (const [file, args] of tools) {
    const r = spawnSync(file, args, { input: xml, encoding: 'utf8' });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') continue;
    if (r.status !== 0) throw new Error(`${file} rejects the document: ${r.stderr}`);
    return file as 'xmllint' | 'python3';
  }
  return null;
}

export function elementsAt(elements: readonly XmlElement[], path: string): XmlElement[] {
  return elements.filter((e) => e.path === path);
}
