// sigv4.test.js: the proxy's SigV4 verifier against the worked examples of
// the Amazon S3 documentation ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk"), whose
// signatures were computed by AWS; and against altered copies of them,
// which it must refuse. Run with: node --test test/s3/test/
'use strict';

const assert = require('assert');
const test = require('node:test');
const { SigV4Verifier } = require('../lib/sigv4');

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const verifier = new SigV4Verifier({
  keys: new Map([['AKIAIOSFODNN7EXAMPLE', SECRET]]),
  region: 'us-east-1',
  now: () => Date.UTC(2013, 4, 24, 0, 5, 0),
});

// authorization builds the documentation's Authorization header.
function authorization(signedHeaders, signature) {
  return 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,'
    + `SignedHeaders=${signedHeaders},Signature=${signature}`;
}

// Each example as the proxy receives it: headers as Node's headersDistinct.
const EXAMPLES = {
  'GET Object': {
    method: 'GET',
    rawPath: '/test.txt',
    rawQuery: '',
    headers: {
      host: ['examplebucket.s3.amazonaws.com'],
      range: ['bytes=0-9'],
      'x-amz-content-sha256': [EMPTY_SHA256],
      'x-amz-date': ['20130524T000000Z'],
      authorization: [authorization('host;range;x-amz-content-sha256;x-amz-date',
        'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41')],
    },
    body: Buffer.alloc(0),
  },
  'PUT Object (signed Date header, $ in the key)': {
    method: 'PUT',
    rawPath: '/test%24file.text',
    rawQuery: '',
    headers: {
      host: ['examplebucket.s3.amazonaws.com'],
      date: ['Fri, 24 May 2013 00:00:00 GMT'],
      'x-amz-date': ['20130524T000000Z'],
      'x-amz-storage-class': ['REDUCED_REDUNDANCY'],
      'x-amz-content-sha256': ['44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072'],
      authorization: [authorization('date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
        '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd')],
    },
    body: Buffer.from('Welcome to Amazon S3.'),
  },
  'GET Bucket Lifecycle (?lifecycle, no value)': {
    method: 'GET',
    rawPath: '/',
    rawQuery: 'lifecycle',
    headers: {
      host: ['examplebucket.s3.amazonaws.com'],
      'x-amz-date': ['20130524T000000Z'],
      'x-amz-content-sha256': [EMPTY_SHA256],
      authorization: [authorization('host;x-amz-content-sha256;x-amz-date',
        'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543')],
    },
    body: Buffer.alloc(0),
  },
  'GET Bucket (query parameters out of order)': {
    method: 'GET',
    rawPath: '/',
    rawQuery: 'max-keys=2&prefix=J',
    headers: {
      host: ['examplebucket.s3.amazonaws.com'],
      'x-amz-date': ['20130524T000000Z'],
      'x-amz-content-sha256': [EMPTY_SHA256],
      authorization: [authorization('host;x-amz-content-sha256;x-amz-date',
        '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7')],
    },
    body: Buffer.alloc(0),
  },
};

// altered copies an example with some fields replaced.
function altered(example, changes) {
  return { ...example, ...changes, headers: { ...example.headers, ...(changes.headers || {}) } };
}

// rejection runs verify and returns the S3 error code it threw.
async function rejection(request) {
  try {
    await verifier.verify(request);
  } catch (err) {
    return err.code;
  }
  return 'accepted';
}

for (const [name, example] of Object.entries(EXAMPLES)) {
  test(`accepts AWS's example: ${name}`, async () => {
    const result = await verifier.verify(example);
    assert.strictEqual(result.accessKeyId, 'AKIAIOSFODNN7EXAMPLE');
    assert.strictEqual(result.payload, 'signed');
  });
}

test('refuses an example with another signed header value', async () => {
  const request = altered(EXAMPLES['GET Object'], { headers: { range: ['bytes=0-10'] } });
  assert.strictEqual(await rejection(request), 'SignatureDoesNotMatch');
});

test('refuses an example with another path, or the same path encoded differently', async () => {
  assert.strictEqual(await rejection(altered(EXAMPLES['GET Object'], { rawPath: '/test.txt2' })), 'SignatureDoesNotMatch');
  const put = EXAMPLES['PUT Object (signed Date header, $ in the key)'];
  assert.strictEqual(await rejection(altered(put, { rawPath: '/test$file.text' })), 'SignatureDoesNotMatch');
});

test('refuses an example with another query', async () => {
  const request = altered(EXAMPLES['GET Bucket (query parameters out of order)'], { rawQuery: 'max-keys=3&prefix=J' });
  assert.strictEqual(await rejection(request), 'SignatureDoesNotMatch');
});

test('refuses an example with another body', async () => {
  const request = altered(EXAMPLES['PUT Object (signed Date header, $ in the key)'], { body: Buffer.from('Welcome to Amazon S4.') });
  assert.strictEqual(await rejection(request), 'XAmzContentSHA256Mismatch');
});

test('refuses an example with an extra unsigned x-amz header', async () => {
  const request = altered(EXAMPLES['GET Object'], { headers: { 'x-amz-meta-extra': ['1'] } });
  assert.strictEqual(await rejection(request), 'AccessDenied');
});

test('refuses an example checked too late', async () => {
  const late = new SigV4Verifier({
    keys: new Map([['AKIAIOSFODNN7EXAMPLE', SECRET]]),
    region: 'us-east-1',
    now: () => Date.UTC(2013, 4, 24, 0, 16, 0),
  });
  await assert.rejects(late.verify(EXAMPLES['GET Object']), { code: 'RequestTimeTooSkewed' });
});

test('refuses an example in another region', async () => {
  const other = new SigV4Verifier({ keys: new Map([['AKIAIOSFODNN7EXAMPLE', SECRET]]), region: 'eu-west-1', now: () => Date.UTC(2013, 4, 24) });
  await assert.rejects(other.verify(EXAMPLES['GET Object']), { code: 'AuthorizationHeaderMalformed' });
});
