import { VtorqueError } from './errors.js';

/**
 * The one top-level catch of every entry point: a VtorqueError ends the process with its own exit
 * code and a one-line message; anything else is a bug and says so.
 */
export async function runMain(program: string, main: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await main();
  } catch (err) {
    if (err instanceof VtorqueError) {
      process.stderr.write(`${program}: ${err.message}\n`);
      code = err.exitCode;
    } else {
      const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stderr.write(`${program}: internal error (please report): ${detail}\n`);
      code = 70;
    }
  }
  process.exitCode = code;
  // Let pending stdout/stderr writes drain before exiting.
  await new Promise<void>((resolve) => setImmediate(resolve));
  process.exit(code);
}
