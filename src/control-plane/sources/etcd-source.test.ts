import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { systemClock } from '../../core/clock';
import { EtcdServer, ETCD_MISSING, findEtcdBinary } from '../../../test/fakes/etcd-server';
import { withTimeout } from '../../../test/fakes/wait';
import { EtcdSource, EtcdSourceConfigError, parseEtcdEndpoints } from './etcd-source';
import type { MeshSourceSnapshot } from './mesh-source';

describe('parseEtcdEndpoints', () => {
  it('accepts host:port and URLs, comma-separated', () => {
    assert.deepEqual(parseEtcdEndpoints('127.0.0.1:2379, http://a:1,https://b:2/'), ['http://127.0.0.1:2379', 'http://a:1', 'https://b:2']);
  });
  it('rejects empty lists, other schemes and missing ports', () => {
    assert.throws(() => parseEtcdEndpoints(' , '), EtcdSourceConfigError);
    assert.throws(() => parseEtcdEndpoints('unix://x:1'), /only http/);
    assert.throws(() => parseEtcdEndpoints('http://a'), /host:port/);
  });
  it('an empty prefix is refused', () => {
    assert.throws(() => new EtcdSource({ endpoints: ['http://127.0.0.1:1'], prefix: '', clock: systemClock }), /must not be empty/);
  });
});

const etcdBin = findEtcdBinary();

describe('EtcdSource against a real etcd', { skip: etcdBin === null ? ETCD_MISSING : false, timeout: 60_000 }, () => {
  let etcd: EtcdServer;
  let kv: Etcd3;
  let n = 0;
  /** A fresh prefix per test so tests do not see each other's keys. */
  const prefix = () => `/remora-test-${++n}/`;

  before(async () => {
    etcd = await EtcdServer.start();
    kv = new Etcd3({ hosts: etcd.endpoint });
  });
  after(async () => {
    kv?.close();
    await etcd?.stop();
  });

  const source = (t: { after(fn: () => Promise<void> | void): void }, p: string) => {
    const src = new EtcdSource({ endpoints: [etcd.endpoint], prefix: p, clock: systemClock, debounceMs: 10, backoffInitialMs: 20, backoffMaxMs: 200 });
    t.after(() => src.close());
    return src;
  };

  /** Starts `src`; `next(pred)` awaits the next emitted snapshot matching `pred`. */
  const watch = async (src: EtcdSource) => {
    const waiters: { pred: (s: MeshSourceSnapshot) => boolean; resolve: (s: MeshSourceSnapshot) => void }[] = [];
    const seen: MeshSourceSnapshot[] = [];
    const errors: Error[] = [];
    const initial = await src.start({
      onChange(s) {
        seen.push(s);
        for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.pred(s)) waiters.splice(i, 1)[0]!.resolve(s);
      },
      onError(e) { errors.push(e); },
    });
    const next = (pred: (s: MeshSourceSnapshot) => boolean) =>
      withTimeout(new Promise<MeshSourceSnapshot>((resolve) => waiters.push({ pred, resolve })), 10_000, `a snapshot matching ${pred.toString()}`);
    return { initial, next, seen, errors };
  };

  it('read() returns every key under the prefix, sorted, and nothing outside it', async (t) => {
    const p = prefix();
    await kv.put(`${p}b.yaml`).value('b: 1\n');
    await kv.put(`${p}a.yaml`).value('a: 1\n');
    await kv.put(`${p}nested/c`).value('c: 1\n');
    await kv.put(`/elsewhere${p}x.yaml`).value('x: 1\n');
    await kv.put(p.slice(0, -1)).value('not under the prefix');
    const snap = await source(t, p).read();
    assert.deepEqual([...snap.files.keys()], [`${p}a.yaml`, `${p}b.yaml`, `${p}nested/c`]);
    assert.equal(snap.files.get(`${p}a.yaml`), 'a: 1\n');
  });

  it('an empty prefix gives an empty snapshot', async (t) => {
    const snap = await source(t, prefix()).read();
    assert.equal(snap.files.size, 0);
  });

  it('emits a snapshot on put, on update and on delete', async (t) => {
    const p = prefix();
    await kv.put(`${p}mesh.yaml`).value('v: 1\n');
    const w = await watch(source(t, p));
    assert.equal(w.initial.files.get(`${p}mesh.yaml`), 'v: 1\n');

    let next = w.next((s) => s.files.has(`${p}second.yaml`));
    await kv.put(`${p}second.yaml`).value('s: 1\n');
    let s = await next;
    assert.deepEqual([...s.files.keys()], [`${p}mesh.yaml`, `${p}second.yaml`]);

    next = w.next((s2) => s2.files.get(`${p}mesh.yaml`) === 'v: 2\n');
    await kv.put(`${p}mesh.yaml`).value('v: 2\n');
    s = await next;
    assert.equal(s.files.get(`${p}second.yaml`), 's: 1\n');

    next = w.next((s2) => !s2.files.has(`${p}second.yaml`));
    await kv.delete().key(`${p}second.yaml`);
    s = await next;
    assert.deepEqual([...s.files.keys()], [`${p}mesh.yaml`]);
    assert.equal(w.errors.length, 0);
  });

  it('does not emit for a put that leaves the text unchanged, nor for keys outside the prefix', async (t) => {
    const p = prefix();
    await kv.put(`${p}mesh.yaml`).value('v: 1\n');
    const w = await watch(source(t, p));
    await kv.put(`${p}mesh.yaml`).value('v: 1\n'); // same text: new revision, no snapshot
    await kv.put(`/other${p}mesh.yaml`).value('v: 9\n');
    const next = w.next((s) => s.files.get(`${p}mesh.yaml`) === 'v: 3\n');
    await kv.put(`${p}mesh.yaml`).value('v: 3\n'); // a marker: everything before it has been processed
    await next;
    assert.equal(w.seen.length, 1, `snapshots: ${w.seen.map((s) => JSON.stringify([...s.files])).join(' ')}`);
  });

  it('a change made between the initial read and the watch is not lost', async (t) => {
    const p = prefix();
    await kv.put(`${p}mesh.yaml`).value('v: 1\n');
    const src = source(t, p);
    // Put right after the range response: the watch starts at the range's revision + 1, so it replays it.
    const originalRead = (src as unknown as { readWithRevision: () => Promise<unknown> }).readWithRevision.bind(src);
    let first = true;
    (src as unknown as { readWithRevision: () => Promise<unknown> }).readWithRevision = async () => {
      const r = await originalRead();
      if (first) {
        first = false;
        await kv.put(`${p}mesh.yaml`).value('v: 2\n');
      }
      return r;
    };
    const w = await watch(src);
    assert.equal(w.initial.files.get(`${p}mesh.yaml`), 'v: 1\n');
    const s = await w.next((x) => x.files.get(`${p}mesh.yaml`) === 'v: 2\n');
    assert.equal(s.files.size, 1);
  });

  it('read() rejects when etcd is unreachable, after its retries', async (t) => {
    const src = new EtcdSource({ endpoints: ['http://127.0.0.1:1'], prefix: '/x/', clock: systemClock, readAttempts: 2, backoffInitialMs: 10, callTimeoutMs: 1000, dialTimeoutMs: 1000 });
    t.after(() => src.close());
    await assert.rejects(src.read());
  });

  it('close() stops events and releases the connection', async (t) => {
    const p = prefix();
    const src = source(t, p);
    const w = await watch(src);
    await src.close();
    await src.close(); // idempotent
    await kv.put(`${p}late.yaml`).value('x: 1\n');
    // A second watcher on the same prefix proves the put was delivered to watchers by now.
    const probe = new EtcdSource({ endpoints: [etcd.endpoint], prefix: p, clock: systemClock, debounceMs: 10 });
    t.after(() => probe.close());
    const pw = await watch(probe);
    const seenByProbe = pw.next((s) => s.files.get(`${p}late.yaml`) === 'x: 2\n');
    await kv.put(`${p}late.yaml`).value('x: 2\n');
    await seenByProbe;
    assert.equal(w.seen.length, 0);
  });

  // Last: it restarts the shared etcd.
  it('survives an etcd restart: the watch reconnects and later puts are seen', async (t) => {
    const p = prefix();
    await kv.put(`${p}mesh.yaml`).value('v: 1\n');
    const w = await watch(source(t, p));
    await etcd.kill();
    await etcd.resume();
    const next = w.next((s) => s.files.get(`${p}mesh.yaml`) === 'v: after-restart\n');
    await kv.put(`${p}mesh.yaml`).value('v: after-restart\n');
    await next;
  });
});
