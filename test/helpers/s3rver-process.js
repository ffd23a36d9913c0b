/**
 * Runs s3rver (a real S3 API server) on a loopback port in its own process and prints
 * {"port": N} when ready. Started with `node --openssl-legacy-provider`: s3rver's
 * ListObjectsV2 continuation tokens use a cipher that OpenSSL 3 disables.
 *   node --openssl-legacy-provider s3rver-process.js <dir> <bucket>...
 */
'use strict';
const S3rver = require('s3rver');
const [dir, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  port: 0,
  address: '127.0.0.1',
  directory: dir,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then(({ port }) => process.stdout.write(`${JSON.stringify({ port })}\n`));
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
