// An S3 server that is not ours: s3rver (the @20minutes fork, which checks AWS Signature V4; s3rver 3.7.1 accepts any
// V4 signature of a known access key), on a loopback port, with one bucket and one key pair, the only one it accepts.
// Run by tests/ZImageSharp.Server.Tests (ScaleOut/S3rver.cs).
//
//   S3_BUCKET=b S3_ACCESS_KEY=k S3_SECRET_KEY=s node server.mjs DATA_FOLDER
//
// stdout: one JSON line {"endpoint": "http://127.0.0.1:PORT"} once it listens, then one line per request answered:
// {"method", "path", "status", "content_type"} (content_type: what a PUT sent). stdin: a line "secret NEW" replaces the
// key pair's secret (keys rotated under a running server); "deny METHOD" answers that method's signed requests 403
// AccessDenied from then on (keys whose policy lacks it); end of stdin stops the server.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { Transform } from 'node:stream';

const require = createRequire(import.meta.url);
const v4 = require('@20minutes/s3rver/lib/signature/v4');
const S3Error = require('@20minutes/s3rver/lib/models/error');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');

const { S3_BUCKET: bucket, S3_ACCESS_KEY: accessKey, S3_SECRET_KEY: secretKey } = process.env;
const folder = process.argv[2];
if (!bucket || !accessKey || !secretKey || !folder) {
  console.error('usage: S3_BUCKET=… S3_ACCESS_KEY=… S3_SECRET_KEY=… node server.mjs DATA_FOLDER');
  process.exit(2);
}

// S3 refuses a body whose SHA-256 is not the x-amz-content-sha256 that was signed (400 XAmzContentSHA256Mismatch);
// s3rver does not look. Its object controller takes its body parser when it loads, so this wraps it before that.
class PayloadHashCheck extends Transform {
  constructor(expected) {
    super();
    this.expected = expected.toLowerCase();
    this.hash = createHash('sha256');
  }

  _transform(chunk, encoding, callback) {
    this.hash.update(chunk);
    callback(null, chunk);
  }

  _flush(callback) {
    const actual = this.hash.digest('hex');
    if (actual === this.expected) return callback();
    const error = new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.",
      { ClientComputedContentSHA256: this.expected, S3ComputedContentSHA256: actual });
    error.status = 400;
    callback(error);
  }
}
const parseBody = v4.aws4SignatureBodyParser;
v4.aws4SignatureBodyParser = ctx => {
  parseBody(ctx);
  const claimed = ctx.get('x-amz-content-sha256');
  if (!/^[0-9a-fA-F]{64}$/.test(claimed)) return;
  // A small body has ended (and failed) before the store pipes it anywhere; its pipeline reads the stored error then.
  const check = ctx.request.body.pipe(new PayloadHashCheck(claimed)).on('error', () => {});
  ctx.request.body = check;
};
const { default: S3rver } = await import('@20minutes/s3rver');

// Only the key pair given here: not s3rver's built-in S3RVER/S3RVER.
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: folder,
  configureBuckets: [{ name: bucket }],
  // <bucket>.s3.localhost is a virtual-hosted request; 127.0.0.1 is path-style.
  serviceEndpoint: 'localhost',
});
// First of all middleware: a private bucket answers an unsigned request 403 (s3rver serves it anonymously), and every
// answer is reported once written; the methods a "deny" took away are refused (before the signature check: the tests
// deny only to keys that sign correctly).
const denied = new Set();
server.middleware.unshift(async (ctx, next) => {
  const contentType = ctx.method === 'PUT' ? ctx.get('content-type') : undefined;
  ctx.res.on('finish', () =>
    console.log(JSON.stringify({ method: ctx.method, path: ctx.originalUrl, status: ctx.res.statusCode, content_type: contentType })));
  if (!ctx.get('authorization') && !('X-Amz-Signature' in ctx.query)) throw new S3Error('AccessDenied', 'Access Denied');
  if (denied.has(ctx.method)) throw new S3Error('AccessDenied', 'Access Denied');
  await next();
});

const { port } = await server.run();
console.log(JSON.stringify({ endpoint: `http://127.0.0.1:${port}` }));

const commands = createInterface({ input: process.stdin });
commands.on('line', line => {
  const [command, value] = line.trim().split(/\s+/, 2);
  if (command === 'secret' && value) {
    AWSAccount.DUMMY_ACCOUNT.revokeAccessKey(accessKey);
    AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKey, value);
    console.log(JSON.stringify({ secret: 'replaced' }));
  } else if (command === 'deny' && value) {
    denied.add(value.toUpperCase());
    console.log(JSON.stringify({ denied: [...denied] }));
  }
});
// The test that started it is done (or gone): stop at once; its folder is a throwaway.
commands.on('close', () => process.exit(0));
