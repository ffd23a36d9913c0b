/**
 * Runs s3rver (a real S3 API server) on a loopback port in its own process and prints
 * {"port": N} when ready. Started with `node --openssl-legacy-provider`: s3rver's
 * ListObjectsV2 continuation tokens use a cipher that OpenSSL 3 disables.
 *   node --openssl-legacy-provider s3rver-process.js <dir> <bucket>...
 *
 * One change to s3rver's file store: a PUT lands whole, as on S3. s3rver streams the body
 * into the object's file in place, so a GET during the PUT reads an empty or partial object
 * (a run's supervisor polling for manifest.json read it empty while the worker wrote it);
 * here the body goes to a temporary file that is renamed into place.
 */
'use strict';
const { createHash, randomBytes } = require('node:crypto');
const fs = require('node:fs/promises');
const path = require('node:path');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.mkdir(path.dirname(objectPath), { recursive: true });
  const chunks = [];
  if (Buffer.isBuffer(object.content)) chunks.push(object.content);
  else for await (const c of object.content) chunks.push(Buffer.from(c));
  const body = Buffer.concat(chunks);
  const md5 = createHash('md5').update(body).digest('hex');
  const tmp = `${objectPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(tmp, body);
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  await fs.rename(tmp, objectPath);
  return { size: body.length, md5 };
};

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
