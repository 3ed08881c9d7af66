// The official AWS SDK (@aws-sdk/client-s3) reads what ZImageSharp wrote: lists the bucket under a prefix and gets
// every object into a folder, so that the test compares bytes; then asks with a wrong secret and a wrong key, to show
// that the server really checks signatures. Run by tests/ZImageSharp.Server.Tests (ScaleOut/S3rverTests.cs).
//
//   S3_ACCESS_KEY=k S3_SECRET_KEY=s node sdk.mjs ENDPOINT BUCKET PREFIX OUT_FOLDER
//
// stdout, last line: {"sdk": {"version"}, "node", "objects": [{"key", "size", "content_type", "file"}],
// "wrong_secret": {"name", "status"}, "wrong_key": {"name", "status"}}.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

const [endpoint, bucket, prefix, out] = process.argv.slice(2);
const { S3_ACCESS_KEY: accessKeyId, S3_SECRET_KEY: secretAccessKey } = process.env;
if (!endpoint || !bucket || prefix === undefined || !out || !accessKeyId || !secretAccessKey) {
  console.error('usage: S3_ACCESS_KEY=… S3_SECRET_KEY=… node sdk.mjs ENDPOINT BUCKET PREFIX OUT_FOLDER');
  process.exit(2);
}

// s3rver signs a bucket's request over /BUCKET where the SDK sends and signs /BUCKET/ (S3 takes either), so it would
// refuse a correct listing: the SDK lists without the slash. Bucket-level requests only; object requests are unchanged.
const dropBucketSlash = next => args => {
  if (args.request.path === `/${bucket}/`) args.request.path = `/${bucket}`;
  return next(args);
};

function client(key, secret) {
  const s3 = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true, // as ZImageSharp addresses it
    credentials: { accessKeyId: key, secretAccessKey: secret },
    maxAttempts: 1,
  });
  s3.middlewareStack.add(dropBucketSlash, { step: 'build', name: 'dropBucketSlash' });
  return s3;
}

const s3 = client(accessKeyId, secretAccessKey);
const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
const objects = [];
for (const [index, entry] of (listed.Contents ?? []).entries()) {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: entry.Key }));
  const bytes = await got.Body.transformToByteArray();
  const file = path.join(out, `${index}.bin`);
  writeFileSync(file, bytes);
  objects.push({ key: entry.Key, size: entry.Size, content_type: got.ContentType, file });
}

async function refused(key, secret) {
  try {
    await client(key, secret).send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return { name: null, status: 200 };
  } catch (error) {
    return { name: error.name, status: error.$metadata?.httpStatusCode ?? null };
  }
}

const require = createRequire(import.meta.url);
const version = JSON.parse(readFileSync(require.resolve('@aws-sdk/client-s3/package.json'), 'utf8')).version;
console.log(JSON.stringify({
  sdk: { version },
  node: process.version,
  objects,
  wrong_secret: await refused(accessKeyId, secretAccessKey + 'x'),
  wrong_key: await refused(accessKeyId + 'x', secretAccessKey),
}));
