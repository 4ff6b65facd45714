/**
 * @module harness/test-ca
 * A certificate authority of the tests' own, made with Debian's openssl for one run: a CDN stand-in, a cache stand-in
 * or nginx in a namespace serve certificates it issued, and the client side trusts it alone (the helper's
 * --rendezvous-ca). Nothing here is trusted by the system, and every file lives in the folder the caller removes.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface IssuedCertificate {
  keyPem: string;
  certPem: string;
  keyPath: string;
  certPath: string;
}

export interface TestCa {
  /** The CA's certificate (PEM), to trust. */
  caPem: string;
  caPath: string;
  /** A server certificate for `names` (DNS names; IP addresses are given as IP SANs). */
  issue(names: readonly string[]): IssuedCertificate;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

/** Makes a CA in `dir` (which must exist and which the caller removes), valid for two days. */
export function makeTestCa(dir: string): TestCa {
  const caKey = join(dir, 'ca.key');
  const caPath = join(dir, 'ca.pem');
  openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    caKey,
    '-out',
    caPath,
    '-days',
    '2',
    '-subj',
    '/CN=Ferry test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  let issued = 0;
  return {
    caPem: readFileSync(caPath, 'utf8'),
    caPath,
    issue: (names) => {
      issued += 1;
      const base = join(dir, `leaf-${issued}`);
      const sans = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
      writeFileSync(`${base}.ext`, `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\n`);
      openssl(['req', ...EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${names[0] ?? 'test'}`]);
      openssl([
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        caPath,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-out',
        `${base}.pem`,
        '-days',
        '2',
        '-extfile',
        `${base}.ext`,
      ]);
      return { keyPem: readFileSync(`${base}.key`, 'utf8'), certPem: readFileSync(`${base}.pem`, 'utf8'), keyPath: `${base}.key`, certPath: `${base}.pem` };
    },
  };
}
