/**
 * Commands people give rollgate in review comments, one per line at the start of the line:
 * `/rollout approve <justification>`. Gerrit puts "Patch Set N: <votes>" before the text, so the
 * command may stand on any line; a command quoted in the middle of a sentence is not one.
 */
export type CommentCommand =
  | { readonly kind: 'approve'; readonly justification: string }
  | { readonly kind: 'invalid'; readonly problem: string };

const COMMAND = /^\s*\/rollout(?:\s+(\S+))?(?:\s+(.*))?$/;

export function parseCommentCommands(comment: string): CommentCommand[] {
  const commands: CommentCommand[] = [];
  for (const line of comment.split(/\r?\n/)) {
    const m = COMMAND.exec(line);
    if (!m) continue;
    const verb = m[1];
    const rest = (m[2] ?? '').trim();
    if (verb === 'approve') {
      commands.push(rest === '' ? { kind: 'invalid', problem: '/rollout approve needs a justification: /rollout approve <why>' } : { kind: 'approve', justification: rest });
    } else {
      commands.push({ kind: 'invalid', problem: `unknown rollout command "/rollout ${verb ?? ''}"; this version knows /rollout approve <justification>` });
    }
  }
  return commands;
}
