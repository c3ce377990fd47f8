/**
 * Test-only PKI: generates throwaway EC (P-256) CAs and leaf certificates with the `openssl` CLI into
 * a fresh mkdtemp directory, so tests never commit keys. Synchronous and fast (EC keygen). Used by
 * transport and upstream tests; other areas' tests may reuse it. Not for production use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  readonly name: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** @internal paths inside the temp dir */
  readonly certPath: string;
  readonly keyPath: string;
}

export interface TestLeaf {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A temp directory of generated material; call `cleanup()` in `after()`. */
export class TestPki {
  readonly dir: string;
  private serial = 1;
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'remora-pki-'));
  }

  /** A self-signed CA named `name`. */
  createCa(name: string): TestCa {
    const keyPath = join(this.dir, `${name}.key`);
    const certPath = join(this.dir, `${name}.crt`);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-subj', `/CN=${name}`, '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return { name, cert: readFileSync(certPath), key: readFileSync(keyPath), certPath, keyPath };
  }

  /**
   * A leaf signed by `ca` with common name `cn` and SANs in openssl syntax
   * (`['DNS:a.test', 'URI:spiffe://td/ns/x/sa/y', 'IP:127.0.0.1', 'email:a@b']`); usable as server and client cert.
   */
  issue(ca: TestCa, cn: string, sans: readonly string[]): TestLeaf {
    const id = `leaf${this.serial++}`;
    const keyPath = join(this.dir, `${id}.key`);
    const csrPath = join(this.dir, `${id}.csr`);
    const certPath = join(this.dir, `${id}.crt`);
    const extPath = join(this.dir, `${id}.ext`);
    const ext = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth'];
    if (sans.length > 0) ext.push('subjectAltName=' + sans.join(','));
    writeFileSync(extPath, ext.join('\n') + '\n');
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', csrPath, '-subj', `/CN=${cn}`]);
    openssl(['x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', String(1000 + this.serial),
      '-out', certPath, '-days', '2', '-extfile', extPath]);
    return { cert: readFileSync(certPath), key: readFileSync(keyPath) };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
