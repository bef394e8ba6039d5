export {
  buildMetaData,
  buildNetworkConfig,
  buildUserData,
  dumpYaml,
  ENV_FILE_PATH,
  loadUserDataBase,
  NODE_FILE_DIR,
  parseUserDataBase,
  USER_DATA_BASE,
  userDataObject,
  type UserDataBase,
} from './cloud-init.js';
export { checkGuestSpec, type GuestMount, type GuestSpec, type GuestUser } from './guest-spec.js';
export { buildJobEnv, JOB_ENV_TEMPLATE } from './job-env.js';
export { eligibleUserMetadata, type EligibleMetadata } from '../core/request/index.js';
export { buildFastSeed, FAST_SEED_DIR, fastSeedCovers, fastSeedManifest, type FastSeed, type FastSeedFile } from './fast-seed.js';
export { VM_SPOOL_DIR, PROFILE_SCRIPT_PATH, AUTHORIZED_KEYS_DIR, SSHD_SNIPPET_PATH } from './cloud-init.js';
