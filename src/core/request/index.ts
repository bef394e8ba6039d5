export { parseVmSpecs, buildRequest, type VmSpec, type VmSpecs, type RawEntry, type RequestIo, type BuiltRequest } from './parse.js';
export { applyPolicy, DISK_NEEDS_OWNER, diskNeedsOwner, type PolicyResult } from './policy.js';
export { REQUEST_KEYS, type VmRequest, type RequestKey, type EmbeddedFile, type PinningMap, type UserMetadata } from './types.js';
export { ACCEPTED, LIMITS, IMAGE_NAME, REQUEST_DEFAULTS, SIZE_KEYS, parseRequestBool, parsePinningText, distroFromImageName } from './values.js';
export { eligibleUserMetadata, PACKAGE, type EligibleMetadata } from './user-metadata.js';
export { VmRequestSchema } from './schema.js';
