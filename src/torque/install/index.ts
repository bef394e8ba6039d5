// Torque's part of `vtorque setup`: the hook links in mom_priv (a site's own hook kept as .orig).
export { torqueHooks, planMomPrivInstall, planMomPrivUninstall, type MomPrivInstallPlan, type UninstallStep } from './mom-priv.js';
