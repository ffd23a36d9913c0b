#!/usr/bin/env node
/**
 * Runs a command with a Redis it can use: REDIS_URL if set, else the one at
 * 127.0.0.1:6379 if it answers, else a throwaway `redis-server` from the PATH on a free
 * port (stopped afterwards). Without any, says in one line how to get one.
 *   node scripts/with-redis.js <command> [args...]
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function ping(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.createConnection({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (!cmd) {
    console.error('usage: with-redis.js <command> [args...]');
    process.exit(2);
  }
  let server = null;
  let dir = null;
  if (!process.env.REDIS_URL) {
    if (await ping('127.0.0.1', 6379)) {
      process.env.REDIS_URL = 'redis://127.0.0.1:6379';
    } else {
      if (spawnSync('redis-server', ['--version']).error) {
        console.error(
          'overmap: no Redis answers at 127.0.0.1:6379 and there is no redis-server on the PATH: install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL',
        );
        process.exit(3);
      }
      const port = await freePort();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-redis-'));
      server = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      );
      for (let i = 0; i < 50 && !(await ping('127.0.0.1', port)); i++) await new Promise((r) => setTimeout(r, 100));
      process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
      console.error(`(started a throwaway redis-server on port ${port})`);
    }
  }
  const child = spawn(cmd, args, { stdio: 'inherit', env: process.env, shell: process.platform === 'win32' });
  const stop = () => {
    if (server) server.kill();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    stop();
    process.exit(code ?? (signal ? 1 : 0));
  });
}
main();
