import { shellQuote } from '../../core/render/index.js';

/** Files the capture qsub writes into its output directory. */
export const CAPTURE_FILES = { argc: 'argc', argv: 'argv', cwd: 'cwd', env: 'env', script: 'script' } as const;

/** qsub's options that take a value (Torque 6.1 getopt string), for the operand scan below. */
const VALUE_LETTERS = 'aAbcCdDeFiJjkKlLmMNopPqrStTuvwW';

/**
 * The stand-in qsub vsub runs (as the job owner): it records its argv (one per line, with the
 * count beside it so a newline inside an argument is detected), its cwd and environment, and the
 * job script (its last operand, or its stdin when there is none or it is "-"), prints the job id
 * and exits 0. Values reach the script only as single-quoted words.
 */
export function renderCaptureScript(outDir: string, jobId: string): string {
  return `#!/bin/sh
# vTorque run-local: stands in for qsub. Records the submission, prints the job id, submits nothing.
out=${shellQuote(outDir)}
printf '%s\\n' "$#" > "$out/${CAPTURE_FILES.argc}" || exit 1
for a in "$@"; do printf '%s\\n' "$a"; done > "$out/${CAPTURE_FILES.argv}"
pwd > "$out/${CAPTURE_FILES.cwd}"
env -0 > "$out/${CAPTURE_FILES.env}"
script= skip= ended=
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  if [ -n "$ended" ]; then script=$a; continue; fi
  case $a in
    --) ended=1 ;;
    -) script=- ;;
    --*) ;;
    -*)
      rest=\${a#-}
      while [ -n "$rest" ]; do
        c=\${rest%"\${rest#?}"}
        rest=\${rest#?}
        case $c in
          [${VALUE_LETTERS}]) [ -z "$rest" ] && skip=1; rest= ;;
        esac
      done ;;
    *) script=$a ;;
  esac
done
if [ -z "$script" ] || [ "$script" = - ]; then
  cat > "$out/${CAPTURE_FILES.script}" || exit 1
elif ! cat -- "$script" > "$out/${CAPTURE_FILES.script}"; then
  printf "qsub: script file '%s' cannot be loaded\\n" "$script" >&2
  exit 1
fi
printf '%s\\n' ${shellQuote(jobId)}
exit 0
`;
}
