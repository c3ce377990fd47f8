/**
 * x-forwarded-client-cert handling per Envoy's forward_client_cert_details modes, on a connection
 * with a verified client certificate and on one without.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientCertDetailsModel, ForwardClientCertModel, HttpConnectionManagerModel } from '../config/model';
import type { RequestHeaders } from '../filters/stream-context';
import type { PeerIdentity } from '../transport/peer-identity';
import { buildXfccElement, DownstreamConnection, XFCC } from './downstream-connection';

const PEER: PeerIdentity = {
  spiffeId: 'spiffe://td/ns/a/sa/caller', principal: 'td/ns/a/sa/caller', trustDomain: 'td', namespace: 'a', serviceAccount: 'caller',
  uriSans: ['spiffe://td/ns/a/sa/caller'], dnsSans: ['caller.a', 'caller.a.svc'], subject: 'CN=caller,O=Team "A"', certSha256: 'ab12',
};
const NONE: ClientCertDetailsModel = { subject: false, cert: false, chain: false, dns: false, uri: false };
const BY = ['spiffe://td/ns/b/sa/server'];

function hcm(mode: ForwardClientCertModel, details: Partial<ClientCertDetailsModel> = {}): HttpConnectionManagerModel {
  return { forwardClientCertDetails: mode, setCurrentClientCertDetails: { ...NONE, ...details } } as unknown as HttpConnectionManagerModel;
}

function apply(conn: DownstreamConnection, model: HttpConnectionManagerModel, incoming?: string): string | string[] | undefined {
  const h: RequestHeaders = Object.create(null);
  if (incoming !== undefined) h[XFCC] = incoming;
  conn.applyXfcc(h, model);
  return h[XFCC];
}

test('Envoy element layout: By, Hash, Subject (quoted, escaped), URI, DNS', () => {
  assert.equal(buildXfccElement(PEER, BY, { ...NONE, subject: true, uri: true, dns: true }, null),
    'By=spiffe://td/ns/b/sa/server;Hash=ab12;Subject="CN=caller,O=Team \\"A\\"";URI=spiffe://td/ns/a/sa/caller;DNS=caller.a;DNS=caller.a.svc');
  assert.equal(buildXfccElement({ ...PEER, uriSans: [] }, [], { ...NONE, uri: true }, null), 'Hash=ab12;URI=');
});

test('modes on an mTLS connection', () => {
  const conn = new DownstreamConnection('https', '10.0.0.1', PEER, null, BY);
  const mine = 'By=spiffe://td/ns/b/sa/server;Hash=ab12;URI=spiffe://td/ns/a/sa/caller';
  assert.equal(apply(conn, hcm('SANITIZE'), 'By=x'), undefined);
  assert.equal(apply(conn, hcm('FORWARD_ONLY'), 'By=x'), 'By=x');
  assert.equal(apply(conn, hcm('FORWARD_ONLY')), undefined);
  assert.equal(apply(conn, hcm('ALWAYS_FORWARD_ONLY'), 'By=x'), 'By=x');
  assert.equal(apply(conn, hcm('SANITIZE_SET', { uri: true }), 'By=forged'), mine);
  assert.equal(apply(conn, hcm('SANITIZE_SET', { uri: true })), mine);
  assert.equal(apply(conn, hcm('APPEND_FORWARD', { uri: true }), 'By=prev'), `By=prev,${mine}`);
  assert.equal(apply(conn, hcm('APPEND_FORWARD', { uri: true })), mine);
});

test('modes on a plaintext connection: everything but ALWAYS_FORWARD_ONLY strips the header', () => {
  const conn = new DownstreamConnection('http', '10.0.0.1', null, null, []);
  for (const mode of ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET'] as const) {
    assert.equal(apply(conn, hcm(mode, { uri: true }), 'By=forged'), undefined, mode);
  }
  assert.equal(apply(conn, hcm('ALWAYS_FORWARD_ONLY'), 'By=forged'), 'By=forged');
});

test('the element is cached per connection and rebuilt for a new HCM config', () => {
  const conn = new DownstreamConnection('https', '10.0.0.1', PEER, null, BY);
  const a = hcm('SANITIZE_SET', { uri: true });
  assert.equal(conn.element(a), conn.element(a));
  assert.equal(conn.element(hcm('SANITIZE_SET', { dns: true })), 'By=spiffe://td/ns/b/sa/server;Hash=ab12;DNS=caller.a;DNS=caller.a.svc');
});
