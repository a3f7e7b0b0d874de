// Durations moved down to src/duration.ts (config, schemas and report use them too); this re-export
// keeps runner.ts's import working until its split lands and imports '../duration.js' itself.
export { formatDuration, parseDuration } from '../duration.js';
