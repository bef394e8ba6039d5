import { xmlEscape } from '../core/render/index.js';
import type { SandboxNetwork } from './options.js';

/** An XML element as data; `serialize` does all the escaping. */
interface XmlElement {
  readonly name: string;
  readonly attrs?: Readonly<Record<string, string>>;
  readonly children?: readonly (XmlElement | string)[];
}

/** First and last address of the dynamic DHCP range (fixed hosts take .2-.99 and .200-.254). */
export const DHCP_RANGE = { first: 100, last: 199 } as const;

/** libvirt's namespace for options passed to the network's dnsmasq as they are. */
const DNSMASQ_NS = 'http://libvirt.org/schemas/network/dnsmasq/1.0';

/**
 * The sandbox's network: isolated by default, no `<forward>` (guests reach only the bridge
 * address: DHCP and local DNS); with forward 'route' (the testbed's nodes) routed without NAT, so
 * the netns's own routes carry guest traffic to other nodes' guests. STP off, DNS answered for the local domain only. dnsmasq runs with `no-ping`: by
 * default it pings a dynamic address and waits 3 s for an answer before it offers it, measured
 * here as 3.3 s of a 16 s guest start (doc/guest-images.md); on the sandbox's own bridge nothing
 * else can hold the address.
 */
export function buildNetworkXml(net: SandboxNetwork): string {
  const ip = (last: number): string => `${net.subnet}.${last}`;
  const doc: XmlElement = {
    name: 'network',
    attrs: { 'xmlns:dnsmasq': DNSMASQ_NS },
    children: [
      { name: 'name', children: [net.name] },
      ...(net.forward === 'route' ? [{ name: 'forward', attrs: { mode: 'route' } }] : []),
      { name: 'bridge', attrs: { name: net.bridge, stp: 'off', delay: '0' } },
      { name: 'domain', attrs: { name: net.domain, localOnly: 'yes' } },
      {
        name: 'ip',
        attrs: { address: ip(1), netmask: '255.255.255.0' },
        children: [
          {
            name: 'dhcp',
            children: [
              { name: 'range', attrs: { start: ip(DHCP_RANGE.first), end: ip(DHCP_RANGE.last) } },
              ...net.hosts.map((h) => ({ name: 'host', attrs: { mac: h.mac, name: h.name, ip: h.ip } })),
            ],
          },
        ],
      },
      { name: 'dnsmasq:options', children: [{ name: 'dnsmasq:option', attrs: { value: 'no-ping' } }] },
    ],
  };
  return `${serialize(doc, '')}\n`;
}

function serialize(el: XmlElement, indent: string): string {
  const attrs = Object.entries(el.attrs ?? {})
    .map(([k, v]) => ` ${k}='${xmlEscape(v)}'`)
    .join('');
  const children = el.children ?? [];
  if (children.length === 0) return `${indent}<${el.name}${attrs}/>`;
  if (children.every((c) => typeof c === 'string')) return `${indent}<${el.name}${attrs}>${children.map((c) => xmlEscape(c as string)).join('')}</${el.name}>`;
  const inner = children.map((c) => (typeof c === 'string' ? `${indent}  ${xmlEscape(c)}` : serialize(c, `${indent}  `)));
  return [`${indent}<${el.name}${attrs}>`, ...inner, `${indent}</${el.name}>`].join('\n');
}
