/**
 * Commands people give rollgate in review comments: `/rollout approve|deny|retry|rollback|cancel
 * <text>`. Gerrit puts "Patch Set N: <votes>" before the text, so a command may stand on any line,
 * but only as the line's own content, and only where the comment shows it as the author's words:
 *
 * - the line starts with `/rollout` (after at most three spaces);
 * - it is not inside a fenced code block (``` or ~~~, three or more, closed by a fence of the same
 *   character at least as long; an unclosed fence runs to the end of the comment);
 * - it is not a quote (`>` after at most three spaces) nor indented code (four spaces or a tab).
 *
 * So "the syntax is: ``` /rollout approve <why> ```", a `>` quote of someone else's command, or a
 * command in the middle of a sentence is text, not a command.
 */
export type CommandVerb = 'approve' | 'deny' | 'retry' | 'rollback' | 'cancel';

/** `line` is the command's line as written (trimmed): what a webhook's comment is compared by. */
export type CommentCommand =
  | { readonly kind: CommandVerb; readonly text: string; readonly line: string }
  | { readonly kind: 'invalid'; readonly problem: string; readonly line: string };

/**
 * Most commands one comment may give. A comment with more is answered once that it has too many
 * and none of them is acted on: a person gives one or two, and acting on the first N of a flood
 * would still let one comment cause N actions, audit rows and replies.
 */
export const MAX_COMMANDS_PER_COMMENT = 10;

const VERBS: readonly CommandVerb[] = ['approve', 'deny', 'retry', 'rollback', 'cancel'];
/** What the text after each verb is, and whether it is required. */
const TEXT: Record<CommandVerb, { readonly what: string; readonly required: boolean }> = {
  approve: { what: 'justification', required: true },
  deny: { what: 'reason', required: true },
  retry: { what: 'reason', required: false },
  rollback: { what: 'reason', required: true },
  cancel: { what: 'reason', required: true },
};

const COMMAND = /^ {0,3}\/rollout(?:[ \t]+(\S+))?(?:[ \t]+(.*))?$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;

export function parseCommentCommands(comment: string): CommentCommand[] {
  const commands: CommentCommand[] = [];
  for (const line of linesOutsideFences(comment)) {
    const m = COMMAND.exec(line);
    if (!m) continue;
    const verb = VERBS.find((v) => v === m[1]);
    const text = (m[2] ?? '').trim();
    const written = line.trim();
    if (!verb) {
      commands.push({ kind: 'invalid', problem: `unknown command "/rollout ${m[1] ?? ''}"; use /rollout ${VERBS.join('|')} <text>`, line: written });
    } else if (TEXT[verb].required && text === '') {
      commands.push({ kind: 'invalid', problem: `/rollout ${verb} needs a ${TEXT[verb].what}: /rollout ${verb} <${TEXT[verb].what}>`, line: written });
    } else {
      commands.push({ kind: verb, text, line: written });
    }
  }
  return commands;
}

/** The comment's lines that are not inside a fenced code block (the fence lines themselves excluded). */
function linesOutsideFences(comment: string): string[] {
  const outside: string[] = [];
  let open: { readonly char: string; readonly length: number } | undefined;
  for (const line of comment.split(/\r?\n/)) {
    const fence = FENCE.exec(line);
    if (open) {
      // a closing fence: same character, at least as long, nothing after it
      if (fence && fence[1]![0] === open.char && fence[1]!.length >= open.length && fence[2]!.trim() === '') open = undefined;
      continue;
    }
    // a backtick fence's info string may not hold a backtick (CommonMark), else it is inline code
    if (fence && !(fence[1]![0] === '`' && fence[2]!.includes('`'))) {
      open = { char: fence[1]![0]!, length: fence[1]!.length };
      continue;
    }
    outside.push(line);
  }
  return outside;
}
