// The Node side of the Torque hooks: dist/hook.mjs runs main.ts; the admin CLI uses gc.
export { collectGarbage, formatReap } from './gc.js';
