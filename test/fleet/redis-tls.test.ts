/**
 * Redis over TLS with a password, as managed Redis services run it: a real redis-server with
 * a TLS port and requirepass, a private CA made here with openssl. A run completes when the
 * CA is given (NODE_EXTRA_CA_CERTS); without it the error names TLS and the fix.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { makeDevModel } from '../helpers/models';
import { cliEnv, expectOneRecordPerKey, makeImages, readParts, runCli } from '../helpers/fleet';
import { freePort, tmpDir, waitFor } from '../helpers/services';

const PASSWORD = 'tls-test-password-7';
let dir: string, spec: string, data: string, keys: string[], server: ChildProcess, url: string, ca: string;

async function openssl(args: string[], cwd: string): Promise<void> {
  await promisify(execFile)('openssl', args, { cwd });
}

beforeAll(async () => {
  dir = await tmpDir();
  spec = await makeDevModel(path.join(dir, 'model'), { segmenter: 'saliency' });
  data = path.join(dir, 'data');
  keys = await makeImages(data, 8);
  const tls = path.join(dir, 'tls');
  await fs.mkdir(tls);
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=overmap-test-ca',
    ],
    tls,
  );
  await openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'],
    tls,
  );
  await fs.writeFile(path.join(tls, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ],
    tls,
  );
  ca = path.join(tls, 'ca.pem');
  const port = await freePort();
  server = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      'server.pem',
      '--tls-key-file',
      'server.key',
      '--tls-ca-cert-file',
      'ca.pem',
      '--tls-auth-clients',
      'no',
      '--requirepass',
      PASSWORD,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ],
    { cwd: tls, stdio: 'ignore' },
  );
  url = `rediss://:${PASSWORD}@127.0.0.1:${port}`;
  await waitFor(async () => {
    const r = new Redis(url, {
      tls: { ca: await fs.readFile(ca) },
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } finally {
      r.disconnect();
    }
  }, 'redis-server with TLS');
});
afterAll(async () => {
  server.kill('SIGKILL');
  await fs.rm(dir, { recursive: true, force: true });
});

describe('Redis over TLS with a password', () => {
  it('a run completes when the CA is given; the password is never printed', async () => {
    const out = path.join(dir, 'results');
    const r = await runCli(
      ['run', data, '--out', out, '--workers', '1', '--model', spec],
      cliEnv(url, 'ttls', { NODE_EXTRA_CA_CERTS: ca }),
    );
    expect(r.code).toBe(0);
    expectOneRecordPerKey((await readParts(out)).records, keys);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('without the CA: one line naming TLS and the fix, no password', async () => {
    const r = await runCli(['enqueue', data, '--out', path.join(dir, 'no-ca'), '--model', spec], cliEnv(url, 'ttls2'));
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toMatch(
      /^overmap: TLS to Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+ failed \(.*\): .*NODE_EXTRA_CA_CERTS/m,
    );
    expect(r.stderr).not.toContain(PASSWORD);
  });
});
