/** The five Torque hooks vTorque fronts (mom_priv file names), in the order setup handles them. */
export const HOOK_NAMES = ['prologue', 'prologue.parallel', 'epilogue', 'epilogue.parallel', 'epilogue.precancel'] as const;
export type HookName = (typeof HOOK_NAMES)[number];
