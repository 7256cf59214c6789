/**
 * Certificates for TLS tests, made with the openssl CLI in a temp dir: a CA, a server certificate for
 * 127.0.0.1/localhost, an expired one, one for another host name, a client certificate (CN = device id), and a
 * second CA that signed none of them (a "wrong CA" for the client). EC P-256 keys: fast to make.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCerts {
  dir: string;
  /** File paths. */
  ca: string;
  otherCa: string;
  server: { cert: string; key: string };
  expired: { cert: string; key: string };
  wrongHost: { cert: string; key: string };
  client: { cert: string; key: string };
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function key(dir: string, name: string): void {
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
}

function selfSignedCa(dir: string, name: string): void {
  key(dir, name);
  openssl(dir, ['req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '30', '-subj', `/CN=${name}`]);
}

function signed(dir: string, name: string, cn: string, opts: { san?: string; days?: number; client?: boolean } = {}): void {
  key(dir, name);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  const ext = [opts.san ? `subjectAltName=${opts.san}` : '', `extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}`].filter(Boolean).join('\n');
  fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
  // -days -1: notAfter lies before now (an expired certificate).
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', String(opts.days ?? 30), '-extfile', `${name}.ext`]);
}

export function makeCerts(deviceId: string): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certs-'));
  // mosquitto drops to its own user when started as root: the files must be readable.
  fs.chmodSync(dir, 0o755);
  selfSignedCa(dir, 'ca');
  selfSignedCa(dir, 'other-ca');
  signed(dir, 'server', 'localhost', { san: 'IP:127.0.0.1,DNS:localhost' });
  signed(dir, 'expired', 'localhost', { san: 'IP:127.0.0.1,DNS:localhost', days: -1 });
  signed(dir, 'wrong-host', 'other.example', { san: 'DNS:other.example' });
  signed(dir, 'client', deviceId, { client: true });
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  const pair = (n: string) => ({ cert: path.join(dir, `${n}.crt`), key: path.join(dir, `${n}.key`) });
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    otherCa: path.join(dir, 'other-ca.crt'),
    server: pair('server'),
    expired: pair('expired'),
    wrongHost: pair('wrong-host'),
    client: pair('client'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
