/**
 * `${name}` substitution for workflow values. Change data (subjects, footers) is attacker-
 * controlled text, so it is only ever substituted into a single argv element or a JSON string
 * value, never into something a shell would parse: there is no shell anywhere in rollgate.
 */
export type Variables = Readonly<Record<string, string>>;

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

/** Names a template refers to, for validation at policy-check time. */
export function referencedNames(template: string): string[] {
  return [...template.matchAll(REFERENCE)].map((m) => m[1]!);
}

/** Replaces every `${name}`; an unknown name is an error rather than an empty string. */
export function interpolate(template: string, vars: Variables): string {
  return template.replace(REFERENCE, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`unknown variable \${${name}}`);
    return value;
  });
}

/**
 * For an `http` step's URL: `${env.*}` (the operator's own settings, such as a base URL) goes in
 * as written; every other value is percent-encoded, so change data such as a subject with `/`,
 * `?` or `#` stays one path segment or query value and cannot redirect the call elsewhere.
 */
export function interpolateUrl(template: string, vars: Variables): string {
  return template.replace(REFERENCE, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`unknown variable \${${name}}`);
    return name.startsWith('env.') ? value : encodeURIComponent(value);
  });
}

/**
 * Substitutes inside the string values of a JSON value only: keys, numbers and the structure stay
 * as written, so change data can never add a field or break out of a string.
 */
export function interpolateJson(value: unknown, vars: Variables): unknown {
  if (typeof value === 'string') return interpolate(value, vars);
  if (Array.isArray(value)) return value.map((v) => interpolateJson(v, vars));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateJson(v, vars)]));
  return value;
}

/** Names every workflow may use; `params.*` and `env.*` are checked separately. */
export const BUILTIN_VARIABLES: readonly string[] = [
  'change.project',
  'change.branch',
  'change.number',
  'change.subject',
  'patchset',
  'revision',
  'newRev',
  'rollout.id',
  'rollout.rule',
  'rollout.environment',
  'rollout.previous_rev',
];

export function isKnownVariable(name: string, params: readonly string[]): boolean {
  if (BUILTIN_VARIABLES.includes(name)) return true;
  if (name.startsWith('params.')) return params.includes(name.slice('params.'.length));
  return /^env\.[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
