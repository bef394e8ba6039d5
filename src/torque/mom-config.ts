import { readFileSync } from 'node:fs';
import { DEFAULT_TORQUE_HOME, momPaths } from './torque-home.js';
import type { HookLimit, HookLimitOf } from '../core/config/index.js';

/** Torque's default `$prologalarm` in seconds (pbs_mom's PBS_PROLOG_TIME). */
export const PROLOG_ALARM_DEFAULT = 300;

/** The mom's `$prologalarm` from mom_priv/config, when that file is readable. */
export function readPrologAlarm(torqueHome: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(momPaths(torqueHome).config, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^\s*\$prologalarm\s+(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The effective alarm: `$prologalarm − 10` when above 10 (prolog.c), else the value itself. */
export function effectiveAlarmSeconds(prologalarm: number): number {
  return prologalarm > 10 ? prologalarm - 10 : prologalarm;
}

/** Seconds this pbs_mom gives a prologue before it kills it. */
export function prologueAlarm(torqueHome: string): HookLimit {
  return { seconds: effectiveAlarmSeconds(readPrologAlarm(torqueHome) ?? PROLOG_ALARM_DEFAULT), name: "the mom's $prologalarm - 10" };
}

/**
 * For loadConfig: the time limit pbs_mom puts on the prologue, read from the mom_priv/config under
 * the config's own TORQUE_HOME (only the Torque side reads Torque's files; vsub never does).
 */
export const torqueHookLimit: HookLimitOf = (peek) => prologueAlarm(peek('TORQUE_HOME') ?? DEFAULT_TORQUE_HOME);
