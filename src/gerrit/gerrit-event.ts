import { z } from 'zod';

/**
 * The stream-events we act on, as zod schemas. Gerrit says any field may be missing, numbers
 * sometimes arrive as strings, and unknown fields come and go between versions, so the schemas
 * require only what rollgate uses and pass the rest through untouched.
 */
const intLike = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);

export const AccountAttributeSchema = z.looseObject({
  name: z.string().optional(),
  email: z.string().optional(),
  username: z.string().optional(),
});

export const ChangeAttributeSchema = z.looseObject({
  project: z.string().min(1),
  branch: z.string().min(1),
  id: z.string().optional(),
  number: intLike,
  subject: z.string().default(''),
  owner: AccountAttributeSchema.optional(),
  url: z.string().optional(),
  status: z.string().optional(),
});

export const PatchSetAttributeSchema = z.looseObject({
  number: intLike,
  revision: z.string().regex(/^[0-9a-f]{40}$/, 'must be a 40-character commit sha'),
  uploader: AccountAttributeSchema.optional(),
});

const envelope = { eventCreatedOn: z.number().optional(), instanceId: z.string().optional() };

const signedInt = z.union([z.number().int(), z.string().regex(/^\s*[+-]?\d+\s*$/).transform(Number)]);

/**
 * The `approvals` of a `comment-added` or `vote-deleted` event: the author's value on every label
 * (Gerrit lists them all, changed or not), with `oldValue` on those this review changed. Values
 * are strings in events (`"2"`); numbers are taken too.
 */
export const EventApprovalsSchema = z.array(z.looseObject({ type: z.string().min(1), value: signedInt, oldValue: signedInt.optional() }));
export type EventApproval = z.infer<typeof EventApprovalsSchema>[number];

/** Whether a review changed a vote: some label carries an `oldValue` other than its new value. */
export function changesAVote(approvals: readonly EventApproval[]): boolean {
  return approvals.some((a) => a.oldValue !== undefined && a.oldValue !== a.value);
}

export const ChangeMergedEventSchema = z.looseObject({
  type: z.literal('change-merged'),
  change: ChangeAttributeSchema,
  patchSet: PatchSetAttributeSchema,
  submitter: AccountAttributeSchema.optional(),
  newRev: z.string().optional(),
  ...envelope,
});

export const CommentAddedEventSchema = z.looseObject({
  type: z.literal('comment-added'),
  change: ChangeAttributeSchema,
  patchSet: PatchSetAttributeSchema,
  author: AccountAttributeSchema.optional(),
  comment: z.string().default(''),
  /**
   * The author's votes after this review (Gerrit lists every label, changed or not). Only a hint
   * that votes may have changed, read again over REST, so its shape is not held against the event.
   */
  approvals: z.unknown().optional(),
  ...envelope,
});

/** A new patch set was uploaded; rollgate reads only which change it was (the rest comes from REST). */
export const PatchsetCreatedEventSchema = z.looseObject({ type: z.literal('patchset-created'), change: ChangeAttributeSchema, ...envelope });

export const DroppedOutputEventSchema = z.looseObject({ type: z.literal('dropped-output'), ...envelope });

export type ChangeMergedEvent = z.infer<typeof ChangeMergedEventSchema>;
export type CommentAddedEvent = z.infer<typeof CommentAddedEventSchema>;
export type DroppedOutputEvent = z.infer<typeof DroppedOutputEventSchema>;
export type PatchsetCreatedEvent = z.infer<typeof PatchsetCreatedEventSchema>;
export type GerritEvent = ChangeMergedEvent | CommentAddedEvent | PatchsetCreatedEvent | DroppedOutputEvent;

/** Event types rollgate subscribes to with `stream-events -s`. */
export const SUBSCRIBED_EVENT_TYPES = ['change-merged', 'comment-added'] as const;
/** Also subscribed when rollgate acts on open changes (readiness, policy checks): each new patch set. */
export const OPEN_CHANGE_EVENT_TYPES = ['patchset-created'] as const;

const schemasByType: Readonly<Record<string, z.ZodType<GerritEvent>>> = {
  'change-merged': ChangeMergedEventSchema,
  'comment-added': CommentAddedEventSchema,
  'patchset-created': PatchsetCreatedEventSchema,
  'dropped-output': DroppedOutputEventSchema,
};

export type ParsedLine =
  | { readonly kind: 'event'; readonly event: GerritEvent; readonly value: Record<string, unknown> }
  | { readonly kind: 'other'; readonly type: string; readonly value: Record<string, unknown> }
  | { readonly kind: 'invalid'; readonly type: string | null; readonly reason: string };

/** Parses one stream line: an event we use, another well-formed event, or invalid with a reason. */
export function parseEventLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { kind: 'invalid', type: null, reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'invalid', type: null, reason: 'not a JSON object' };
  }
  const record = value as Record<string, unknown>;
  if (typeof record.type !== 'string' || record.type === '') {
    return { kind: 'invalid', type: null, reason: 'missing field "type"' };
  }
  const schema = schemasByType[record.type];
  if (!schema) return { kind: 'other', type: record.type, value: record };
  const parsed = schema.safeParse(record);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ');
    return { kind: 'invalid', type: record.type, reason: `${record.type} event: ${problems}` };
  }
  return { kind: 'event', event: parsed.data, value: record };
}
