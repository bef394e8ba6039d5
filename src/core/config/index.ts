export { CONFIG_FIELDS, OBSOLETE_KEYS, PUBLIC_KEY_PATTERN, DISTROS, FS_TYPES, METADATA_ELIGIBLE_KEYS } from './schema.js';
export type { SiteConfig, ConfigKey, Distro, FsType } from './schema.js';
export { validateConfig, defaultConfig, type ConfigResult } from './validate.js';
export { loadConfig, parseConfigText, resolveConfigPath, DEFAULT_CONFIG_PATH, type HookLimitOf, type LoadedConfig, type LoadConfigOptions } from './load.js';
export { VIRTIOFS_REFUSED, type ConfigContext, type HookLimit } from './rules.js';
export { parseBoolWord, parseUidRange } from './fields.js';
