/** vsub's exit codes, kept from the original where they meant something; qsub's own code otherwise. */
export const VSUB_EXIT = {
  ok: 0,
  /** bad -vm value, image not authorized, qsub missing, disabled host, interactive VM job */
  invalid: 1,
  /** unknown -vm key; usage errors, as qsub reports them */
  usage: 2,
  /** the generated wrapper failed its own check */
  wrapperBroken: 3,
  /** no private temporary directory could be made for the wrapper */
  tempDir: 6,
} as const;
