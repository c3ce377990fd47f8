/**
 * Locates repository files from tests, whether they run from test/ (tsx) or dist/test/ (compiled):
 * walks up from this file to the folder holding package.json instead of hard-coding `../`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cachedRoot: string | null = null;

/** Absolute path of the repository root (the nearest ancestor with a package.json). */
export function repoRoot(): string {
  if (cachedRoot !== null) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
}

/** Absolute path of a repository file, e.g. `repoPath('proto', 'echo.proto')`. */
export function repoPath(...segments: string[]): string {
  return path.join(repoRoot(), ...segments);
}

/** True when this code runs from TypeScript sources (tsx), false when compiled to dist/. */
export function runningFromSource(): boolean {
  return __filename.endsWith('.ts');
}
