import type { Argv } from 'yargs';

/** One example of a command's `--help`: the command line to copy, and what it does in one line. */
export type Example = readonly [command: string, why: string];

/**
 * Adds examples to a command's `--help`, each as a `# why` line over the command line. yargs would
 * set the explanation beside the command and, at 80 columns, break a long command in the middle of
 * a word; this way every command is one whole line, and a block copied into a shell is still
 * right (the explanations are comments). Keep each line within 76 characters.
 */
export function withExamples<T>(y: Argv<T>, examples: readonly Example[]): Argv<T> {
  let out = y;
  for (const [command, why] of examples) out = out.example(`# ${why}`, '').example(command, '');
  return out;
}
