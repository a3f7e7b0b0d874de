import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const PackageSchema = z.looseObject({ name: z.string().optional(), version: z.string().optional() });

/**
 * rollgate's version, from its package.json, found by walking up from this module: it sits one
 * folder up from source (src/), two when compiled (dist/src/) or installed. `unknown` if none.
 */
export function rollgateVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = PackageSchema.safeParse(JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')));
      if (pkg.success && pkg.data.name === 'rollgate' && pkg.data.version !== undefined) return pkg.data.version;
    } catch {
      // no package.json here (or not readable): look one folder up
    }
    const up = path.dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}
