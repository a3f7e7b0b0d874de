import picomatch from 'picomatch';
import type { RolloutRule } from './policy-config.js';

export interface MergeFacts {
  readonly project: string;
  /** `main` or `refs/heads/main`: Gerrit uses both forms. */
  readonly branch: string;
  /** Files the merged patch set touched; only needed when a rule filters on paths. */
  readonly files?: readonly string[];
  /** Value of the `Rollout:` footer, naming the one rule to use when several match. */
  readonly ruleFooter?: string | undefined;
}

export function shortBranch(branch: string): string {
  return branch.startsWith('refs/heads/') ? branch.slice('refs/heads/'.length) : branch;
}

/** Whether one rule's project, branch and path filters accept the merge. */
export function ruleMatches(rule: RolloutRule, merge: MergeFacts): boolean {
  if (!picomatch.isMatch(merge.project, rule.match.project)) return false;
  if (!picomatch.isMatch(shortBranch(merge.branch), shortBranch(rule.match.branch))) return false;
  if (rule.match.paths) {
    const files = merge.files ?? [];
    if (!files.some((f) => picomatch.isMatch(f, rule.match.paths!, { dot: true }))) return false;
  }
  return true;
}

/**
 * The rules a merge falls under. A `Rollout: <name>` footer narrows several matches to that one;
 * naming a rule that does not match selects nothing, so a typo never rolls out something else.
 */
export function matchingRules(rules: readonly RolloutRule[], merge: MergeFacts): RolloutRule[] {
  const matched = rules.filter((r) => ruleMatches(r, merge));
  if (merge.ruleFooter === undefined) return matched;
  return matched.filter((r) => r.name === merge.ruleFooter);
}

/**
 * Why no rule was selected for a merge, in words for the `ignore` decision. A `Rollout: <name>`
 * footer is the usual surprise: it names a rule that does not exist, or one whose project,
 * branch or paths do not fit this change, and then nothing rolls out.
 */
export function whyNoRuleMatches(rules: readonly RolloutRule[], merge: MergeFacts): string {
  const where = `${merge.project} ${shortBranch(merge.branch)}`;
  if (merge.ruleFooter === undefined) return `no rollout rule matches ${where}`;
  const named = rules.find((r) => r.name === merge.ruleFooter);
  const footerSays = `the "Rollout: ${merge.ruleFooter}" footer names rule ${merge.ruleFooter}`;
  if (!named) return `${footerSays}, which does not exist (rules: ${rules.map((r) => r.name).join(', ') || 'none'}); nothing rolls out`;
  return `${footerSays}, which does not match this change: ${mismatch(named, merge)}; nothing rolls out`;
}

/** The first of a rule's filters that the merge fails, in words. */
function mismatch(rule: RolloutRule, merge: MergeFacts): string {
  if (!picomatch.isMatch(merge.project, rule.match.project)) return `project ${merge.project} is not ${rule.match.project}`;
  if (!picomatch.isMatch(shortBranch(merge.branch), shortBranch(rule.match.branch))) return `branch ${shortBranch(merge.branch)} is not ${shortBranch(rule.match.branch)}`;
  const files = merge.files ?? [];
  const shown = files.length > 0 ? files.slice(0, 5).join(', ') + (files.length > 5 ? ', …' : '') : 'none known';
  return `no file touched (${shown}) is under paths ${rule.match.paths?.join(', ')}`;
}

/** Whether any rule filters on paths, so the caller knows to fetch the file list. */
export function needsFiles(rules: readonly RolloutRule[]): boolean {
  return rules.some((r) => r.match.paths !== undefined);
}

/** Why a glob cannot work (unbalanced brackets or braces), for `rollgate policy check`. */
export function globProblem(glob: string): string | undefined {
  const pairs: Array<[string, string]> = [['[', ']'], ['{', '}'], ['(', ')']];
  for (const [open, close] of pairs) {
    let depth = 0;
    for (const ch of glob) {
      if (ch === open) depth++;
      else if (ch === close && --depth < 0) break;
    }
    if (depth !== 0) return `unbalanced "${open}${close}" in the pattern`;
  }
  try {
    picomatch.makeRe(glob, { strictBrackets: true });
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}
