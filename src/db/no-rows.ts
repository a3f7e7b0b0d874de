import { sql } from 'kysely';

/**
 * A common table expression (parenthesised) that writes and returns nothing: it stands in for a
 * CTE a caller may fold into a statement (an audit entry, a message), so the statement keeps one shape.
 */
export const NO_ROWS = sql<object>`(select null where false)`;
