// object-lock.test.js: the proxy's Object Lock rules (lib/object-lock.js):
// what AWS S3 refuses of an upload with a retention, and what a bucket the
// stack runs with --locked-bucket refuses of one without. Run with:
// node --test test/s3/test/
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const test = require('node:test');
const { ObjectLockRules } = require('../lib/object-lock');

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const BODY = Buffer.from('locked bytes');
const MD5 = crypto.createHash('md5').update(BODY).digest('base64');
const LOCK = { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': '2030-01-02T12:00:00Z' };

// check runs one request through fresh rules (or the given ones).
function check(request, rules = new ObjectLockRules({ lockedBuckets: ['locked'] })) {
  return rules.check({ method: 'PUT', rawPath: '/locked/set/data', body: BODY, now: NOW, ...request });
}

// refused asserts that check throws an S3Error with status and code.
function refused(request, status, code, rules) {
  assert.throws(() => check(request, rules), (err) => {
    assert.strictEqual(err.status, status, err.message);
    assert.strictEqual(err.code, code, err.message);
    return true;
  });
}

test('a PutObject with a retention and Content-MD5 passes and is logged', () => {
  const fields = check({ headers: { ...LOCK, 'content-md5': MD5 } });
  assert.deepStrictEqual(fields, {
    lock_mode: 'GOVERNANCE', lock_retain_until: '2030-01-02T12:00:00.000Z', content_md5: 'verified',
  });
  assert.strictEqual(check({ headers: { ...LOCK, 'x-amz-object-lock-mode': 'COMPLIANCE', 'x-amz-checksum-sha256': 'x' } })
    .lock_mode, 'COMPLIANCE');
});

test('a PutObject with a retention needs an integrity header', () => {
  refused({ headers: { ...LOCK } }, 400, 'InvalidRequest');
  refused({ rawPath: '/open/set/data', headers: { ...LOCK } }, 400, 'InvalidRequest');
});

test('a Content-MD5 must be well-formed and match the body', () => {
  refused({ headers: { ...LOCK, 'content-md5': 'not-base64!' } }, 400, 'InvalidDigest');
  refused({ headers: { ...LOCK, 'content-md5': crypto.createHash('md5').update('other').digest('base64') } },
    400, 'BadDigest');
  refused({ rawPath: '/open/x', headers: { 'content-md5': crypto.createHash('md5').update('other').digest('base64') } },
    400, 'BadDigest');
});

test('a retention needs both headers, a known mode and a future ISO 8601 date', () => {
  refused({ headers: { 'x-amz-object-lock-mode': 'GOVERNANCE', 'content-md5': MD5 } }, 400, 'InvalidArgument');
  refused({ headers: { 'x-amz-object-lock-retain-until-date': '2030-01-02T12:00:00Z', 'content-md5': MD5 } },
    400, 'InvalidArgument');
  refused({ headers: { ...LOCK, 'x-amz-object-lock-mode': 'governance', 'content-md5': MD5 } }, 400, 'InvalidArgument');
  refused({ headers: { ...LOCK, 'x-amz-object-lock-retain-until-date': 'Thu, 02 Jan 2030 12:00:00 GMT', 'content-md5': MD5 } },
    400, 'InvalidArgument');
  refused({ headers: { ...LOCK, 'x-amz-object-lock-retain-until-date': '2030-01-01T11:59:59Z', 'content-md5': MD5 } },
    400, 'InvalidArgument');
});

test('a locked bucket refuses new objects without a retention; others take them', () => {
  refused({ headers: { 'content-md5': MD5 } }, 403, 'AccessDenied');
  refused({ method: 'POST', multipart: { op: 'create' }, headers: {} }, 403, 'AccessDenied');
  assert.strictEqual(check({ rawPath: '/open/set/data', headers: {} }).lock_mode, null);
  // Reading, listing and deleting are not uploads.
  assert.strictEqual(check({ method: 'GET', headers: {} }).lock_mode, null);
  assert.strictEqual(check({ method: 'DELETE', headers: {} }).lock_mode, null);
});

test('every part of an upload created with a retention needs an integrity header', () => {
  const rules = new ObjectLockRules({ lockedBuckets: ['locked'] });
  const created = check({ method: 'POST', multipart: { op: 'create' }, headers: { ...LOCK } }, rules);
  assert.strictEqual(created.lock_mode, 'GOVERNANCE');
  rules.uploadCreated('u1');
  const part = { op: 'part', uploadId: 'u1', partNumber: 1 };
  refused({ multipart: part, headers: {} }, 400, 'InvalidRequest', rules);
  assert.strictEqual(check({ multipart: part, headers: { 'content-md5': MD5 } }, rules).content_md5, 'verified');
  // A part of an upload without a retention needs none.
  assert.strictEqual(check({ multipart: { op: 'part', uploadId: 'u2', partNumber: 1 }, headers: {} }, rules)
    .content_md5, null);
});
