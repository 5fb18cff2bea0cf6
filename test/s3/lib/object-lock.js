// object-lock.js: the S3 Object Lock rules s3rver does not enforce.
//
// s3rver 3.7 ignores x-amz-object-lock-* headers and Content-MD5. The proxy
// holds uploads to what AWS S3 does with them:
//   - a request that creates an object (PutObject, CreateMultipartUpload)
//     with a retention gives both x-amz-object-lock-mode (GOVERNANCE or
//     COMPLIANCE) and x-amz-object-lock-retain-until-date (ISO 8601, in the
//     future), else 400 InvalidArgument;
//   - PutObject with a retention, and every UploadPart of an upload created
//     with one, carries Content-MD5 or an x-amz-checksum-<algorithm>
//     header, else 400 InvalidRequest with AWS's message;
//   - a Content-MD5, wherever sent, is the base64 MD5 of the body (400
//     InvalidDigest if malformed, 400 BadDigest if it does not match).
// And, for the tests: a bucket started with --locked-bucket refuses (403
// AccessDenied, as a bucket policy requiring a retention would) every new
// object without a retention. x-amz-checksum-* values are not checked
// (pgbak_ext sends Content-MD5).
'use strict';

const crypto = require('crypto');
const { S3Error } = require('./s3-error');

const MODES = new Set(['GOVERNANCE', 'COMPLIANCE']);
const ISO8601_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const CHECKSUM_HEADERS = ['x-amz-checksum-crc32', 'x-amz-checksum-crc32c', 'x-amz-checksum-crc64nvme',
  'x-amz-checksum-sha1', 'x-amz-checksum-sha256'];

// hasIntegrityHeader says whether a request carries a body check S3 accepts
// for Object Lock.
function hasIntegrityHeader(headers) {
  return headers['content-md5'] !== undefined || CHECKSUM_HEADERS.some((name) => headers[name] !== undefined);
}

// checkContentMd5 verifies a Content-MD5 header against the body; returns
// whether there was one.
function checkContentMd5(headers, body) {
  const given = headers['content-md5'];
  if (given === undefined) return false;
  const digest = Buffer.from(given, 'base64');
  if (digest.length !== 16 || digest.toString('base64') !== given) {
    throw new S3Error(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
  }
  if (!crypto.createHash('md5').update(body).digest().equals(digest)) {
    throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  return true;
}

// ObjectLockRules checks requests and remembers which uploads are locked.
class ObjectLockRules {
  // lockedBuckets: names of buckets that require a retention on every new object.
  constructor({ lockedBuckets = [] } = {}) {
    this.lockedBuckets = new Set(lockedBuckets);
    this.lockedUploads = new Set();
  }

  // check throws the S3Error AWS would answer, or returns what the log
  // records: lock_mode and lock_retain_until (of a creating request with a
  // retention), content_md5 ("verified" when one was sent and matched).
  // multipart is multipartOperation's answer (undefined for other requests).
  check({ method, rawPath, headers, body, multipart, now = Date.now() }) {
    const fields = { lock_mode: null, lock_retain_until: null, content_md5: null };
    if (checkContentMd5(headers, body)) fields.content_md5 = 'verified';
    const path = /^\/([^/]+)\/(.+)$/.exec(rawPath);
    const creates = path !== null && ((method === 'PUT' && !multipart && headers['x-amz-copy-source'] === undefined)
      || (multipart !== undefined && multipart.op === 'create'));
    const mode = headers['x-amz-object-lock-mode'];
    const until = headers['x-amz-object-lock-retain-until-date'];
    if (creates && (mode !== undefined || until !== undefined)) {
      if (mode === undefined || until === undefined) {
        throw new S3Error(400, 'InvalidArgument',
          'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied');
      }
      if (!MODES.has(mode)) throw new S3Error(400, 'InvalidArgument', 'Unknown wormMode directive.');
      const when = ISO8601_UTC.test(until) ? Date.parse(until) : NaN;
      if (Number.isNaN(when)) {
        throw new S3Error(400, 'InvalidArgument', 'The retain until date must be provided in ISO 8601 format');
      }
      if (when <= now) throw new S3Error(400, 'InvalidArgument', 'The retain until date must be in the future!');
      if (method === 'PUT' && !hasIntegrityHeader(headers)) {
        throw new S3Error(400, 'InvalidRequest',
          'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
      }
      fields.lock_mode = mode;
      fields.lock_retain_until = new Date(when).toISOString();
    } else if (creates && this.lockedBuckets.has(path[1])) {
      throw new S3Error(403, 'AccessDenied',
        `Access Denied: bucket ${path[1]} requires an Object Lock retention on every new object`);
    }
    if (multipart && multipart.op === 'part' && this.lockedUploads.has(multipart.uploadId)
        && !hasIntegrityHeader(headers)) {
      throw new S3Error(400, 'InvalidRequest',
        'Content-MD5 OR x-amz-checksum- HTTP header is required for Upload Part requests with Object Lock parameters');
    }
    return fields;
  }

  // uploadCreated records the UploadId of a CreateMultipartUpload that
  // check() found a retention on.
  uploadCreated(uploadId) {
    this.lockedUploads.add(uploadId);
  }
}

module.exports = { ObjectLockRules, hasIntegrityHeader };
