/** Unit test for the .cpuprofile self-time summary. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topSelfTime } from './cpu-profile';

test('self time is summed per function and sorted', () => {
  const frame = (functionName: string) => ({ functionName, url: 'file:///x/a.js', lineNumber: 0 });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('hot') },
      { id: 3, callFrame: frame('') },
      { id: 4, callFrame: frame('(idle)') },
    ],
    samples: [2, 2, 3, 1, 4],
    timeDeltas: [1000, 3000, 2000, 2000, 9000],
  };
  const top = topSelfTime(profile, 2);
  assert.deepEqual(
    top.map((h) => [h.name, h.location, h.selfMs, h.selfPct]),
    [
      ['hot', 'a.js:1', 4, 50],
      ['(anonymous)', 'a.js:1', 2, 25],
    ],
  );
});
