import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileSource, type MeshSourceSnapshot } from './file-source';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-fs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `src` and returns a function awaiting the next snapshot matching `pred`. */
async function watch(t: { after(fn: () => void): void }, src: FileSource) {
  const waiters: { pred: (s: MeshSourceSnapshot) => boolean; resolve: (s: MeshSourceSnapshot) => void }[] = [];
  const seen: MeshSourceSnapshot[] = [];
  const initial = await src.start({
    onChange(s) {
      seen.push(s);
      for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.pred(s)) waiters.splice(i, 1)[0]!.resolve(s);
    },
  });
  // FileSource unrefs its watcher and timers (the server keeps a control plane alive); the test
  // holds the event loop open itself while it awaits events.
  const keepAlive = setInterval(() => {}, 60_000);
  t.after(() => { src.close(); clearInterval(keepAlive); });
  const next = (pred: (s: MeshSourceSnapshot) => boolean) => new Promise<MeshSourceSnapshot>((resolve) => waiters.push({ pred, resolve }));
  return { initial, next, seen };
}

test('a directory snapshot holds every *.yaml/*.yml file, sorted, and ignores others', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'b.yml'), 'b: 1\n');
  fs.writeFileSync(path.join(dir, 'a.yaml'), 'a: 1\n');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
  const snap = await new FileSource(dir).read();
  assert.deepEqual([...snap.files.keys()], [path.join(dir, 'a.yaml'), path.join(dir, 'b.yml')]);
  assert.equal(snap.files.get(path.join(dir, 'a.yaml')), 'a: 1\n');
});

test('read() rejects a missing target', async () => {
  await assert.rejects(new FileSource('/nonexistent/remora/mesh.yaml').read(), /ENOENT/);
});

test('watching a file: an edit is emitted with the new text', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(file, 'v: 1\n');
  const w = await watch(t, new FileSource(file, { debounceMs: 20, pollIntervalMs: 50 }));
  assert.equal(w.initial.files.get(file), 'v: 1\n');
  const changed = w.next((s) => s.files.get(file) === 'v: 2\n');
  fs.writeFileSync(file, 'v: 2\n');
  const s = await changed;
  assert.deepEqual([...s.files.keys()], [file]);
});

test('watching a file replaced by rename (editor save) is still seen', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(file, 'v: 1\n');
  const w = await watch(t, new FileSource(file, { debounceMs: 20, pollIntervalMs: 50 }));
  const changed = w.next((s) => s.files.get(file) === 'v: 3\n');
  fs.writeFileSync(path.join(dir, '.mesh.yaml.swp'), 'v: 3\n');
  fs.renameSync(path.join(dir, '.mesh.yaml.swp'), file);
  await changed;
});

test('watching a directory: added and removed files are emitted; a burst of writes ends on the final text', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'a.yaml'), 'a: 1\n');
  const w = await watch(t, new FileSource(dir, { debounceMs: 30, pollIntervalMs: 50 }));
  const b = path.join(dir, 'b.yaml');
  const added = w.next((s) => s.files.get(b) === 'b: 3\n');
  fs.writeFileSync(b, 'b: 1\n');
  fs.writeFileSync(b, 'b: 2\n');
  fs.writeFileSync(b, 'b: 3\n');
  const s1 = await added;
  assert.equal(s1.files.size, 2);
  const removed = w.next((s) => !s.files.has(b));
  fs.unlinkSync(b);
  const s2 = await removed;
  assert.deepEqual([...s2.files.keys()], [path.join(dir, 'a.yaml')]);
  // Every emitted snapshot differs from the previous one (no duplicate emissions).
  for (let i = 1; i < w.seen.length; i++) {
    assert.notDeepEqual([...w.seen[i]!.files], [...w.seen[i - 1]!.files]);
  }
});

test('polling alone (no fs.watch event needed) detects a change', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(file, 'v: 1\n');
  const src = new FileSource(file, { debounceMs: 10, pollIntervalMs: 20 });
  const w = await watch(t, src);
  // Detach the fs.watch watcher so only the poller can notice the edit.
  (src as unknown as { watcher: fs.FSWatcher | null }).watcher?.close();
  const changed = w.next((s) => s.files.get(file) === 'v: 9\n');
  fs.writeFileSync(file, 'v: 9\n');
  await changed;
});

test('close() stops further notifications', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(file, 'v: 1\n');
  const src = new FileSource(file, { debounceMs: 10, pollIntervalMs: 20 });
  const w = await watch(t, src);
  src.close();
  fs.writeFileSync(file, 'v: 2\n');
  // A second source on the same file proves the edit is observable; the closed one stayed silent.
  const other = await watch(t, new FileSource(file, { debounceMs: 10, pollIntervalMs: 20 }));
  const seenByOther = other.next((s) => s.files.get(file) === 'v: 4\n');
  fs.writeFileSync(file, 'v: 4\n');
  await seenByOther;
  assert.equal(w.seen.length, 0);
});
