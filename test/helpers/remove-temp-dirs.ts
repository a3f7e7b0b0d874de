import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dir.js';

// registered before the test file's own hooks, so it runs after them (after-hooks run last-registered first)
afterAll(() => removeTempDirs());
