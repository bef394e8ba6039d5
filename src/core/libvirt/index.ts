export { buildDomainXml, checkDomainSpec, DOMAIN_TEMPLATE, MAX_DAC_ID, OWNER_NAMESPACE, type DomainSpec, type DomainOwner, type DomainNet, type DomainType } from './domain-xml.js';
export { parseOwnerMetadata } from './owner-metadata.js';
