// Torque's part of `vtorque setup`: the hook links in mom_priv (a site's own hook kept as .orig).
export { hookFrontVars, hookMode, renderHookFront, HOOK_FRONT_TEMPLATE, type HookFrontVars } from './hook-fronts.js';
export { HOOK_NAMES, type HookName } from '../hook-names.js';
export { torqueHooks, planMomPrivInstall, planMomPrivUninstall, type MomPrivInstallPlan, type UninstallStep } from './mom-priv.js';
