/**
 * The health port answers only GET/HEAD /healthz/ready, by the readiness callback: 503 before ready,
 * 200 after, 404 for anything else (it is reachable from outside the pod, unlike the admin API).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthServer, READY_PATH } from './health-server';

test('GET /healthz/ready follows readiness; other paths and methods are 404', async (t) => {
  let ready = false;
  const server = new HealthServer(() => ready);
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  const get = async (path: string, method = 'GET'): Promise<[number, string]> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return [res.status, await res.text()];
  };
  assert.deepEqual(await get(READY_PATH), [503, 'not ready\n']);
  ready = true;
  assert.deepEqual(await get(READY_PATH), [200, 'ready\n']);
  assert.deepEqual(await get(`${READY_PATH}?verbose=1`), [200, 'ready\n']);
  assert.equal((await get(READY_PATH, 'HEAD'))[0], 200);
  assert.equal((await get('/config_dump'))[0], 404);
  assert.equal((await get('/stats/prometheus'))[0], 404);
  assert.equal((await get(READY_PATH, 'POST'))[0], 404);
});

test('close() before listen() is a no-op', async () => {
  await new HealthServer(() => true).close();
});
