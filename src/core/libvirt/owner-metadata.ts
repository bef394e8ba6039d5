/**
 * Reading our owner element back from a live domain's XML: a small, strict tokenizer (teardown
 * relies on it, so text that merely looks like the element elsewhere must not count).
 */
import { XML_INVALID_CHARS } from '../render/index.js';
import { OWNER_NAMESPACE, type DomainOwner } from './domain-xml.js';

interface StartTag {
  readonly name: string;
  readonly attrs: ReadonlyMap<string, string>;
  readonly selfClosing: boolean;
  readonly end: number;
}

const TAG_NAME = /<([^\s/>!?]+)/y;
const ATTRIBUTE = /\s+([^\s=/>]+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y;
const TAG_END = /\s*(\/?)>/y;
const END_TAG = /<\/([^\s>]+)\s*>/y;
const REFERENCE = /&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));/g;
const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * The owner recorded in a domain's XML (ours, or libvirt's dumpxml of it), or null when there is
 * none or the document cannot be read with certainty (malformed, a DOCTYPE, two owner elements).
 * Only a `<vtq:job>` element that is a direct child of `/domain/metadata` and itself declares
 * `xmlns:vtq="urn:x-vtorque:job:1"` counts: the same characters in text, comments, CDATA or other
 * elements do not. Attribute values are normalised and unescaped as an XML parser would.
 */
export function parseOwnerMetadata(xml: string): DomainOwner | null {
  const stack: string[] = [];
  const found: ReadonlyMap<string, string>[] = [];
  let pos = xml.indexOf('<');
  while (pos >= 0) {
    if (xml.startsWith('<!--', pos)) pos = skipPast(xml, '-->', pos);
    else if (xml.startsWith('<![CDATA[', pos)) pos = skipPast(xml, ']]>', pos);
    else if (xml.startsWith('<?', pos)) pos = skipPast(xml, '?>', pos);
    else if (xml.startsWith('<!', pos)) return null; // a DOCTYPE could declare entities
    else if (xml.startsWith('</', pos)) {
      END_TAG.lastIndex = pos;
      const m = END_TAG.exec(xml);
      if (!m || stack.pop() !== m[1]) return null;
      pos = END_TAG.lastIndex;
    } else {
      const tag = readStartTag(xml, pos);
      if (!tag) return null;
      const atOwnerPlace = stack.length === 2 && stack[0] === 'domain' && stack[1] === 'metadata';
      if (atOwnerPlace && tag.name === 'vtq:job' && tag.attrs.get('xmlns:vtq') === OWNER_NAMESPACE) found.push(tag.attrs);
      if (!tag.selfClosing) stack.push(tag.name);
      pos = tag.end;
    }
    if (pos < 0) return null;
    pos = xml.indexOf('<', pos);
  }
  const attrs = found.length === 1 && stack.length === 0 ? found[0] : undefined;
  const [job, user, node, index] = ['id', 'owner', 'node', 'index'].map((k) => attrs?.get(k));
  if (job === undefined || user === undefined || node === undefined || index === undefined) return null;
  if (!/^(0|[1-9]\d{0,14})$/.test(index)) return null;
  return { job, user, node, index: Number(index) };
}

function skipPast(xml: string, terminator: string, from: number): number {
  const at = xml.indexOf(terminator, from + 2);
  return at < 0 ? -1 : at + terminator.length;
}

function readStartTag(xml: string, pos: number): StartTag | null {
  TAG_NAME.lastIndex = pos;
  const name = TAG_NAME.exec(xml);
  if (!name?.[1]) return null;
  const attrs = new Map<string, string>();
  let at = TAG_NAME.lastIndex;
  for (;;) {
    ATTRIBUTE.lastIndex = at;
    const a = ATTRIBUTE.exec(xml);
    if (!a?.[1]) break;
    const value = attributeValue(a[2] ?? a[3] ?? '');
    if (value === null || attrs.has(a[1])) return null;
    attrs.set(a[1], value);
    at = ATTRIBUTE.lastIndex;
  }
  TAG_END.lastIndex = at;
  const end = TAG_END.exec(xml);
  if (!end) return null;
  return { name: name[1], attrs, selfClosing: end[1] === '/', end: TAG_END.lastIndex };
}

/** XML 1.0 §3.3.3: literal whitespace becomes a space, then references are replaced. */
function attributeValue(raw: string): string | null {
  if (raw.replace(REFERENCE, '').includes('&')) return null;
  let bad = false;
  const value = raw
    .replace(/\r\n?/g, '\n')
    .replace(/[\t\n]/g, ' ')
    .replace(REFERENCE, (_m, hex?: string, dec?: string, named?: string) => {
      if (named) return ENTITIES[named] ?? '';
      const code = parseInt(hex ?? dec ?? '', hex ? 16 : 10);
      if (!(code <= 0x10ffff) || XML_INVALID_CHARS.test(String.fromCodePoint(code)) || (code >= 0xd800 && code <= 0xdfff)) bad = true;
      return bad ? '' : String.fromCodePoint(code);
    });
  return bad ? null : value;
}
