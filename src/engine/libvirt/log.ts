/**
 * What the engine needs from a logger: structured fields first, then the message (pino's call
 * shape, so a pino Logger fits; tests pass a recorder).
 */
export interface EngineLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** A log that drops everything. */
export const silentLog: EngineLog = { info: () => undefined, warn: () => undefined };
