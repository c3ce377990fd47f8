/**
 * The path template parser (google.api.http grammar), percent-decoding per the Spec, and the trie
 * matcher: examples from http.proto and the transcoding notes, plus property tests (fast-check):
 * the parser never throws anything but PathTemplateError, the matcher never throws and always
 * terminates, and generated concrete paths match their template with the right variable values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalTemplate, parsePathTemplate, PathTemplateError, type PathTemplate } from './path-template';
import { decodeComponent, decodeMultiSegment, decodeQueryComponent } from './percent-decoding';
import { ANY_METHOD, DuplicateTemplateError, extractVariables, PathMatcher, splitPath, type HttpBinding } from './path-matcher';

const t = parsePathTemplate;

test('parses literals, wildcards, variables with templates, dotted paths and verbs', () => {
  const a = t('/v1/{name=shelves/*/books/**}:undelete');
  assert.deepEqual(a.segments.map((s) => s.kind), ['literal', 'literal', 'single', 'literal', 'multi']);
  assert.deepEqual(a.variables, [{ fieldPath: ['name'], start: 1, end: 5, multiSegment: true }]);
  assert.equal(a.verb, 'undelete');
  const b = t('/v1/messages/{message_id}/{sub.subfield}');
  assert.deepEqual(b.variables.map((v) => [v.fieldPath.join('.'), v.start, v.end, v.multiSegment]), [['message_id', 2, 3, false], ['sub.subfield', 3, 4, false]]);
  assert.deepEqual(t('/').segments, []);
  assert.equal(canonicalTemplate(t('/v1/{a}/x/{b=**}')), '/v1/*/x/**');
  assert.equal(canonicalTemplate(t('/v1/*:do')), '/v1/*:do');
});

test('rejects what the grammar and the Spec forbid, naming the position', () => {
  const bad: [string, RegExp][] = [
    ['v1/x', /starts with "\/"/],
    ['/v1//x', /empty segment/],
    ['/v1/x/', /empty segment/],
    ['/v1/**/x', /"\*\*" must be the last segment/],
    ['/v1/{a={b}}', /cannot contain another variable/],
    ['/v1/{a', /unterminated variable/],
    ['/v1/{1a}', /invalid field path/],
    ['/v1/{a.}', /invalid field path/],
    ['/v1/a*', /a literal must be a whole segment/],
    ['/v1/*a', /a wildcard must be a whole segment/],
    ['/v1/x:', /empty verb/],
    ['/v1/{a}/{a}', /variable a appears twice/],
    ['/v1/{a=}', /empty variable template/],
    ['', /starts with/],
  ];
  for (const [src, re] of bad) {
    assert.throws(() => t(src), (e: unknown) => e instanceof PathTemplateError && re.test(e.message), src);
  }
});

test('percent-decoding: single segments fully, multi-segment per mode, malformed escapes kept, invalid UTF-8 reported', () => {
  assert.equal(decodeComponent('p%20q%2Fr+'), 'p q/r+');
  assert.equal(decodeComponent('plain'), 'plain');
  assert.equal(decodeComponent('%zz%4'), '%zz%4');
  assert.equal(decodeComponent('%E2%82%AC'), '€');
  assert.equal(decodeComponent('%FF'), null);
  // Envoy's documented example for url_unescape_spec
  const v = '%2f%23/%20%2523';
  assert.equal(decodeMultiSegment(v, 'ALL_CHARACTERS_EXCEPT_RESERVED'), '%2f%23/ %23');
  assert.equal(decodeMultiSegment(v, 'ALL_CHARACTERS_EXCEPT_SLASH'), '%2f#/ %23');
  assert.equal(decodeMultiSegment(v, 'ALL_CHARACTERS'), '/#/ %23');
  assert.equal(decodeQueryComponent('a+b%2B', false), 'a+b+');
  assert.equal(decodeQueryComponent('a+b%2B', true), 'a b+');
});

function matcher(rules: [string, string][]): PathMatcher<string> {
  return new PathMatcher(rules.map(([method, src]) => ({ method, template: t(src), target: `${method} ${src}` })));
}

test('literals beat wildcards whatever the declaration order; ** matches zero or more', () => {
  for (const order of [0, 1]) {
    const rules: [string, string][] = [['GET', '/v1/shelves/{shelf}'], ['GET', '/v1/shelves/special'], ['GET', '/v1/{name=files/**}']];
    const m = matcher(order === 0 ? rules : rules.slice().reverse());
    const hit = (p: string) => { const r = m.match('GET', p); return r.kind === 'match' ? r.binding.target : r.kind; };
    assert.equal(hit('/v1/shelves/special'), 'GET /v1/shelves/special');
    assert.equal(hit('/v1/shelves/s1'), 'GET /v1/shelves/{shelf}');
    assert.equal(hit('/v1/shelves/s1/'), 'GET /v1/shelves/{shelf}', 'trailing slash dropped');
    assert.equal(hit('/v1/files'), 'GET /v1/{name=files/**}');
    assert.equal(hit('/v1/files/a/b/c'), 'GET /v1/{name=files/**}');
    assert.equal(hit('/v1/shelves//x'), 'no_match');
    assert.equal(hit('/v1/shelves/'), 'no_match', '* never matches an empty segment');
  }
});

test('backtracks to a wildcard when the literal branch has the path only for another method; 405 with Allow', () => {
  const m = matcher([['POST', '/v1/shelves/special'], ['GET', '/v1/shelves/{id}'], ['DELETE', '/v1/shelves/{id}']]);
  const r = m.match('GET', '/v1/shelves/special');
  assert.equal(r.kind === 'match' && r.binding.target, 'GET /v1/shelves/{id}');
  const r2 = m.match('PUT', '/v1/shelves/special');
  assert.deepEqual(r2, { kind: 'method_not_allowed', allow: ['DELETE', 'GET', 'POST'] });
  assert.deepEqual(m.match('PUT', '/v2/x'), { kind: 'no_match' });
});

test('custom verbs belong to their template; a colon elsewhere is part of the segment', () => {
  const m = matcher([['POST', '/v1/{name=messages/*}:undelete'], ['GET', '/v1/{name=messages/*}'], ['GET', '/v1/things/{id}']]);
  const a = m.match('POST', '/v1/messages/abc:undelete');
  assert.equal(a.kind === 'match' && a.binding.target, 'POST /v1/{name=messages/*}:undelete');
  assert.deepEqual(a.kind === 'match' && a.segments, ['v1', 'messages', 'abc']);
  // GET of the same path: the verb template is POST-only, so the plain template takes the whole segment (gateway/Spec).
  const b = m.match('GET', '/v1/messages/abc:undelete');
  assert.equal(b.kind === 'match' && b.binding.target, 'GET /v1/{name=messages/*}');
  assert.deepEqual(b.kind === 'match' && extractVariables(b.binding.template, b.segments, 'ALL_CHARACTERS_EXCEPT_SLASH'), [{ fieldPath: ['name'], value: 'messages/abc:undelete' }]);
  const c = m.match('GET', '/v1/things/a:b');
  assert.deepEqual(c.kind === 'match' && extractVariables(c.binding.template, c.segments, 'ALL_CHARACTERS_EXCEPT_SLASH'), [{ fieldPath: ['id'], value: 'a:b' }]);
});

test('variables: single segments fully decoded (%2F too), multi-segment keep %2F; encoded literals match', () => {
  const m = matcher([['GET', '/v1/shelves/{shelf}/books/{book}'], ['GET', '/v1/{name=shelves/*/books/**}:get']]);
  const a = m.match('GET', '/v1/shelves/a%2Fb/books/%E2%82%AC');
  assert.ok(a.kind === 'match');
  assert.deepEqual(extractVariables(a.binding.template, a.segments, 'ALL_CHARACTERS_EXCEPT_SLASH'), [
    { fieldPath: ['shelf'], value: 'a/b' }, { fieldPath: ['book'], value: '€' },
  ]);
  const b = m.match('GET', '/v1/shelves/s1/books/x%2Fy/z%20w:get');
  assert.ok(b.kind === 'match');
  assert.deepEqual(extractVariables(b.binding.template, b.segments, 'ALL_CHARACTERS_EXCEPT_SLASH'), [{ fieldPath: ['name'], value: 'shelves/s1/books/x%2Fy/z w' }]);
  assert.equal(m.match('GET', '/v1/sh%65lves/s1/books/b').kind, 'match', 'a percent-encoded literal still matches');
  const bad = m.match('GET', '/v1/shelves/%FF/books/b');
  assert.ok(bad.kind === 'match');
  assert.equal(extractVariables(bad.binding.template, bad.segments, 'ALL_CHARACTERS_EXCEPT_SLASH'), 0, 'invalid UTF-8 names the variable');
});

test('duplicate templates are a config error; the same template for two methods is not; * matches any method', () => {
  assert.throws(() => matcher([['GET', '/v1/{a}'], ['GET', '/v1/{b}']]), DuplicateTemplateError);
  assert.throws(() => matcher([['GET', '/v1/x:do'], ['GET', '/v1/x:do']]), /duplicate HTTP rule: GET \/v1\/x:do/);
  matcher([['GET', '/v1/{a}'], ['POST', '/v1/{b}'], ['GET', '/v1/{a}:do']]);
  const m = new PathMatcher<string>([{ method: ANY_METHOD, template: t('/any/{x}'), target: 'any' }]);
  const r = m.match('PROPFIND', '/any/1');
  assert.equal(r.kind === 'match' && r.binding.target, 'any');
});

test('splitPath keeps segments encoded and drops trailing empties', () => {
  assert.deepEqual(splitPath('/a%2Fb/c//'), ['a%2Fb', 'c']);
  assert.deepEqual(splitPath('/'), []);
  assert.equal(splitPath('a'), null);
});

// ---------------------------------------------------------------- properties

const LITERALS = ['v1', 'shelves', 'books', 'a', 'b', 'x-y', 'a.b', '%41'];
const segmentArb = fc.oneof(
  fc.constantFrom(...LITERALS).map((v) => ({ src: v, kind: 'literal' as const, v })),
  fc.constant({ src: '*', kind: 'single' as const, v: '' }),
  fc.constantFrom('x', 'y', 'z').map((n) => ({ src: `{${n}}`, kind: 'var' as const, v: n })),
);

test('property: the parser only ever throws PathTemplateError, on any input', () => {
  fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => {
    try {
      parsePathTemplate(s);
    } catch (e) {
      return e instanceof PathTemplateError;
    }
    return true;
  }), { numRuns: 3000 });
  const alphabet = fc.constantFrom('/', '{', '}', '*', '**', ':', '=', '.', 'a', 'b', '1', '%2F');
  fc.assert(fc.property(fc.array(alphabet, { maxLength: 20 }), (parts) => {
    try {
      parsePathTemplate(`/${parts.join('')}`);
    } catch (e) {
      return e instanceof PathTemplateError;
    }
    return true;
  }), { numRuns: 5000 });
});

test('property: the matcher never throws on arbitrary paths', () => {
  const m = matcher([['GET', '/v1/shelves/{shelf}'], ['GET', '/v1/{name=files/**}'], ['POST', '/v1/{a}/{b}:do'], ['GET', '/']]);
  fc.assert(fc.property(fc.string({ maxLength: 60 }), fc.constantFrom('GET', 'POST', 'PUT'), (p, method) => {
    const r = m.match(method, p);
    return r.kind === 'match' || r.kind === 'no_match' || r.kind === 'method_not_allowed';
  }), { numRuns: 3000 });
  // Deep paths and many wildcard alternatives terminate (each segment is visited a bounded number of times).
  const wild = matcher(Array.from({ length: 8 }, (_, i) => ['GET', `/${Array.from({ length: i + 1 }, () => '*').join('/')}/end${i}`] as [string, string]));
  assert.equal(wild.match('GET', `/${'a/'.repeat(5000)}zzz`).kind, 'no_match');
});

test('property: a concrete path built from a template matches it and round-trips its variable values', () => {
  const valueArb = fc.string({ minLength: 1, maxLength: 8 });
  fc.assert(fc.property(fc.array(segmentArb, { minLength: 1, maxLength: 6 }), fc.array(valueArb, { minLength: 6, maxLength: 6 }), (segs, values) => {
    const names = new Set<string>();
    const uniq = segs.filter((s) => (s.kind === 'var' ? !names.has(s.v) && (names.add(s.v), true) : true));
    const template: PathTemplate = parsePathTemplate(`/${uniq.map((s) => s.src).join('/')}`);
    const expected: Record<string, string> = {};
    const concrete = uniq.map((s, i) => {
      if (s.kind === 'literal') return s.v;
      const value = values[i]!;
      if (s.kind === 'var') expected[s.v] = value;
      return encodeURIComponent(value);
    });
    const m = new PathMatcher<number>([{ method: 'GET', template, target: 1 } as HttpBinding<number>]);
    const r = m.match('GET', `/${concrete.join('/')}`);
    if (r.kind !== 'match') return false;
    const vars = extractVariables(r.binding.template, r.segments, 'ALL_CHARACTERS_EXCEPT_SLASH');
    if (typeof vars === 'number') return false;
    return vars.every((v) => expected[v.fieldPath.join('.')] === v.value);
  }), { numRuns: 2000 });
});
