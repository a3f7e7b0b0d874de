import { z } from 'zod';
import { parseDuration } from './duration.js';

/** Small zod pieces shared by the policy and workflow file schemas. */
export const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, ".", "_" and "-"');
export const duration = z.string().refine((s) => parseDuration(s) !== undefined, 'not a duration (e.g. 30s, 10m, 2h)');
