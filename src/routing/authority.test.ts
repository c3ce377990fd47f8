import { test } from 'node:test';
import assert from 'node:assert/strict';
import { portStart, stripPort } from './authority';

test('stripPort handles names, IPv4 and bracketed IPv6', () => {
  assert.equal(stripPort('example.com:8080'), 'example.com');
  assert.equal(stripPort('example.com'), 'example.com');
  assert.equal(stripPort('10.0.0.1:80'), '10.0.0.1');
  assert.equal(stripPort('[::1]:80'), '[::1]');
  assert.equal(stripPort('[::1]'), '[::1]');
  assert.equal(stripPort('[fe80::1:2]'), '[fe80::1:2]');
  assert.equal(stripPort('::1'), ':', 'as Envoy: an unbracketed IPv6 address is not an authority');
  assert.equal(stripPort('example.com:'), 'example.com:');
  assert.equal(stripPort('example.com:http'), 'example.com:http');
  assert.equal(portStart('a:1'), 1);
});
