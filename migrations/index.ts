import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_approvals.js';
import * as m0003 from './0003_decisions.js';
import * as m0004 from './0004_workflow_engine.js';
import * as m0005 from './0005_audit_trail.js';
import * as m0006 from './0006_operator_sessions.js';
import * as m0007 from './0007_events_pending_index.js';
import * as m0008 from './0008_approval_idp_grants.js';
import * as m0009 from './0009_merge_order_and_step_processes.js';
import * as m0010 from './0010_decisions_without_rule.js';
import * as m0011 from './0011_consumed_comment_messages.js';
import * as m0012 from './0012_audit_log_append_only.js';
import * as m0013 from './0013_outbox_labels.js';
import * as m0014 from './0014_step_attempts_and_output.js';
import * as m0015 from './0015_approval_binding.js';
import * as m0016 from './0016_leader_lease.js';
import * as m0017 from './0017_rollout_list_indexes.js';
import * as m0018 from './0018_step_token_keys.js';
import * as m0019 from './0019_audit_head.js';
import * as m0020 from './0020_rollouts_queued_index.js';

/**
 * Every migration, in order. Listed statically (not read from the folder at run time) so the
 * same set runs from TypeScript sources in tests and from the compiled build in production.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001_initial': m0001,
  '0002_approvals': m0002,
  '0003_decisions': m0003,
  '0004_workflow_engine': m0004,
  '0005_audit_trail': m0005,
  '0006_operator_sessions': m0006,
  '0007_events_pending_index': m0007,
  '0008_approval_idp_grants': m0008,
  '0009_merge_order_and_step_processes': m0009,
  '0010_decisions_without_rule': m0010,
  '0011_consumed_comment_messages': m0011,
  '0012_audit_log_append_only': m0012,
  '0013_outbox_labels': m0013,
  '0014_step_attempts_and_output': m0014,
  '0015_approval_binding': m0015,
  '0016_leader_lease': m0016,
  '0017_rollout_list_indexes': m0017,
  '0018_step_token_keys': m0018,
  '0019_audit_head': m0019,
  '0020_rollouts_queued_index': m0020,
};
