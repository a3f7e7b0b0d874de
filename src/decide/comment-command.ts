/**
 * Commands people give rollgate in review comments, one per line at the start of the line:
 * `/rollout approve|deny|retry|rollback|cancel <text>`. Gerrit puts "Patch Set N: <votes>" before
 * the text, so a command may stand on any line; one quoted inside a sentence is not a command.
 */
export type CommandVerb = 'approve' | 'deny' | 'retry' | 'rollback' | 'cancel';

export type CommentCommand =
  | { readonly kind: CommandVerb; readonly text: string }
  | { readonly kind: 'invalid'; readonly problem: string };

const VERBS: readonly CommandVerb[] = ['approve', 'deny', 'retry', 'rollback', 'cancel'];
/** What the text after each verb is, and whether it is required. */
const TEXT: Record<CommandVerb, { readonly what: string; readonly required: boolean }> = {
  approve: { what: 'justification', required: true },
  deny: { what: 'reason', required: true },
  retry: { what: 'reason', required: false },
  rollback: { what: 'reason', required: true },
  cancel: { what: 'reason', required: true },
};

const COMMAND = /^\s*\/rollout(?:\s+(\S+))?(?:\s+(.*))?$/;

export function parseCommentCommands(comment: string): CommentCommand[] {
  const commands: CommentCommand[] = [];
  for (const line of comment.split(/\r?\n/)) {
    const m = COMMAND.exec(line);
    if (!m) continue;
    const verb = VERBS.find((v) => v === m[1]);
    const text = (m[2] ?? '').trim();
    if (!verb) {
      commands.push({ kind: 'invalid', problem: `unknown command "/rollout ${m[1] ?? ''}"; use /rollout ${VERBS.join('|')} <text>` });
    } else if (TEXT[verb].required && text === '') {
      commands.push({ kind: 'invalid', problem: `/rollout ${verb} needs a ${TEXT[verb].what}: /rollout ${verb} <${TEXT[verb].what}>` });
    } else {
      commands.push({ kind: verb, text });
    }
  }
  return commands;
}
