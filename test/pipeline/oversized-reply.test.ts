import { describe, expect, it } from 'vitest';
import { MAX_COMMANDS_PER_COMMENT } from '../../src/policy/comment-command.js';
import { withoutAuditHead } from '../helpers/audit-head.js';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Gerrit refuses a review message over 16 KiB for good, so a reply that grows with what someone
 * wrote (one line per bad command) must still be posted, cut to fit, rather than lost.
 */
describe.each(BACKENDS)('%s: a reply to a huge comment', (backend) => {
  const suite = serviceOnDoublesForSuite(backend, 'oversized', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
  ]);

  it('is posted under 16 KiB, cut with a note, when the comment holds the most commands one comment may, each a long bad one', async () => {
    const change = mergedChange(301, bob, { commitMessage: 'x\n\nRollout-Justification: y\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    suite.rest.setChange(change);
    suite.ssh.push(changeMergedEvent(change));
    await waitFor('the finish message', () => suite.rest.reviews.find((r) => r.changeNumber === 301 && r.message.includes('SUCCEEDED')), 30_000);

    // the per-comment cap keeps the reply to at most MAX_COMMANDS_PER_COMMENT answers; long commands still make it grow
    const comment = Array.from({ length: MAX_COMMANDS_PER_COMMENT }, (_, i) => `/rollout frobnicate-${i}-${'x'.repeat(3000)}`).join('\n');
    suite.ssh.push(commentAddedEvent(change, bob, comment));
    const reply = await waitFor('the reply', () => suite.rest.reviews.find((r) => r.changeNumber === 301 && r.message.includes('unknown command')), 30_000);

    expect(Buffer.byteLength(reply.message)).toBeLessThanOrEqual(16 * 1024);
    expect(reply.message).toMatch(/^rollgate: unknown command "\/rollout frobnicate-0-x+"/);
    expect(withoutAuditHead(reply.message)).toMatch(/\[message cut to fit Gerrit's size limit; see rollgate for the rest\]$/);
  }, 60_000);
});
