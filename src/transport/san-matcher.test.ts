import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SanMatcherModel } from '../config/model';
import { canonicalIp, compileSanMatchers, parseSubjectAltNames, subjectAltNameMatches } from './san-matcher';
import { Re2Regex } from '../config/re2-regex';

test('parseSubjectAltNames handles every type, quoted values and unknown entries', () => {
  const entries = parseSubjectAltNames(
    'DNS:a.test, DNS:"we,ird", URI:spiffe://td/ns/x/sa/y, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, ' +
    'othername:foo, email:a@b.c');
  assert.deepEqual(entries, [
    { type: 'DNS', value: 'a.test' },
    { type: 'DNS', value: 'we,ird' },
    { type: 'URI', value: 'spiffe://td/ns/x/sa/y' },
    { type: 'IP_ADDRESS', value: '127.0.0.1' },
    { type: 'IP_ADDRESS', value: '::1' },
    { type: 'EMAIL', value: 'a@b.c' },
  ]);
  assert.deepEqual(parseSubjectAltNames(undefined), []);
  assert.deepEqual(parseSubjectAltNames(''), []);
});

test('canonicalIp compresses the longest zero run', () => {
  assert.equal(canonicalIp('FE80:0:0:0:0:0:0:1'), 'fe80::1');
  assert.equal(canonicalIp('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(canonicalIp('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8');
  assert.equal(canonicalIp('0:0:0:0:0:0:0:0'), '::');
  assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
});

const san = 'DNS:api.example.com, URI:spiffe://cluster.local/ns/default/sa/frontend, IP Address:10.1.2.3';

function m(type: SanMatcherModel['type'], matcher: SanMatcherModel['matcher']): SanMatcherModel {
  return { type, matcher };
}

test('matchers of each kind, type-checked and ignoreCase', () => {
  const cases: Array<[SanMatcherModel[], boolean]> = [
    [[], true],
    [[m('DNS', { kind: 'exact', value: 'api.example.com', ignoreCase: false })], true],
    [[m('DNS', { kind: 'exact', value: 'API.example.com', ignoreCase: false })], false],
    [[m('DNS', { kind: 'exact', value: 'API.example.com', ignoreCase: true })], true],
    [[m('URI', { kind: 'exact', value: 'api.example.com', ignoreCase: false })], false], // wrong type
    [[m('URI', { kind: 'prefix', value: 'spiffe://cluster.local/', ignoreCase: false })], true],
    [[m('DNS', { kind: 'suffix', value: '.example.com', ignoreCase: false })], true],
    [[m('DNS', { kind: 'contains', value: 'EXAMPLE', ignoreCase: true })], true],
    [[m('IP_ADDRESS', { kind: 'exact', value: '10.1.2.3', ignoreCase: false })], true],
    [[m('EMAIL', { kind: 'exact', value: '10.1.2.3', ignoreCase: false })], false],
    // regex must match the whole value
    [[m('URI', { kind: 'regex', regex: Re2Regex.compile('spiffe://cluster\\.local/ns/[^/]+/sa/frontend') })], true],
    [[m('URI', { kind: 'regex', regex: Re2Regex.compile('ns/default') })], false],
    [[m('DNS', { kind: 'regex', regex: Re2Regex.compile('api|api\\.example\\.com') })], true],
    // any matcher may match
    [[m('DNS', { kind: 'exact', value: 'nope', ignoreCase: false }), m('IP_ADDRESS', { kind: 'prefix', value: '10.', ignoreCase: false })], true],
  ];
  for (const [models, want] of cases) {
    assert.equal(subjectAltNameMatches(compileSanMatchers(models), san), want, JSON.stringify(models));
  }
  const one = compileSanMatchers([m('DNS', { kind: 'exact', value: 'x', ignoreCase: false })]);
  assert.equal(subjectAltNameMatches(one, undefined), false);
});
