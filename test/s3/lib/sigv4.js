// sigv4.js: re-verifies the AWS Signature Version 4 of a buffered request.
//
// The signature is recomputed with @smithy/signature-v4 (the AWS SDK for
// JavaScript's signer), an implementation independent of awscli's botocore
// and of pgbak_ext's own C++ signer, so a signer under test cannot pass by
// agreeing with itself. The checks follow what S3 does for header-signed
// requests: known access key, well-formed credential scope for the
// configured region and service s3, host/x-amz-date/x-amz-content-sha256
// signed, every x-amz-* header signed, x-amz-date within 15 minutes, the
// payload hash matching the body, and the signature itself.
'use strict';

const crypto = require('crypto');
const { ALGORITHM_IDENTIFIER, SignatureV4, createScope, getCanonicalHeaders } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');
const { S3Error } = require('./s3-error');

const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const REQUIRED_SIGNED_HEADERS = ['host', 'x-amz-content-sha256', 'x-amz-date'];

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=AK/date/region/
// service/aws4_request, SignedHeaders=a;b, Signature=hex" into its parts;
// throws AuthorizationHeaderMalformed when it is not in that shape.
function parseAuthorization(value) {
  const malformed = (why) =>
    new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; ${why}`);
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== 'AWS4-HMAC-SHA256') {
    throw new S3Error(400, 'InvalidArgument', 'Unsupported Authorization Type', {
      ArgumentName: 'Authorization',
      ArgumentValue: value,
    });
  }
  const fields = {};
  for (const part of value.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw malformed(`the component "${part.trim()}" is not of the form name=value`);
    fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!fields[name]) throw malformed(`the ${name} component is missing`);
  }
  const scope = fields.Credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') {
    throw malformed(`incorrect credential "${fields.Credential}"; expecting "<AccessKeyId>/<YYYYMMDD>/<region>/s3/aws4_request"`);
  }
  const [accessKeyId, date, region, service] = scope;
  return {
    accessKeyId,
    date,
    region,
    service,
    signedHeaders: fields.SignedHeaders.split(';'),
    signature: fields.Signature,
  };
}

// parseAmzDate reads an x-amz-date (YYYYMMDDTHHMMSSZ) as a Date, or null.
function parseAmzDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text || '');
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) ? null : date;
}

// decodeComponent percent-decodes one query component as S3 does ("+" is
// kept: SigV4 clients encode a space as %20).
function decodeComponent(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3Error(400, 'InvalidArgument', `Invalid percent-encoding in query string: ${text}`);
  }
}

// parseRawQuery turns the query string exactly as received into the
// name -> value (or list of values) map @smithy expects; it re-encodes
// every name and value with RFC 3986 rules when it builds the canonical
// query, which is what S3 compares against. "uploads" becomes uploads="".
function parseRawQuery(rawQuery) {
  const query = {};
  if (!rawQuery) return query;
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeComponent(pair.slice(eq + 1));
    if (!Object.prototype.hasOwnProperty.call(query, name)) query[name] = value;
    else if (Array.isArray(query[name])) query[name].push(value);
    else query[name] = [query[name], value];
  }
  return query;
}

// headerValue returns a received header as one string; repeated headers
// (given as arrays, from Node's headersDistinct) are joined with "," as in
// SigV4's canonical form.
function headerValue(headers, name) {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : String(value);
}

// checkPayload compares x-amz-content-sha256 with the body received and
// returns how the payload was signed: "signed" or "unsigned".
function checkPayload(contentSha256, body) {
  if (contentSha256 === 'UNSIGNED-PAYLOAD') return 'unsigned';
  if (contentSha256.startsWith('STREAMING-')) {
    throw new S3Error(501, 'NotImplemented',
      `A header you provided implies functionality that is not implemented (x-amz-content-sha256: ${contentSha256})`,
      { Header: 'x-amz-content-sha256' });
  }
  if (!/^[0-9a-f]{64}$/.test(contentSha256)) {
    throw new S3Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a valid sha256 value.', {
      ArgumentName: 'x-amz-content-sha256',
      ArgumentValue: contentSha256,
    });
  }
  const actual = body.length === 0 ? EMPTY_SHA256 : crypto.createHash('sha256').update(body).digest('hex');
  if (actual !== contentSha256) {
    throw new S3Error(400, 'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.", {
        ClientComputedContentSHA256: contentSha256,
        S3ComputedContentSHA256: actual,
      });
  }
  return 'signed';
}

// SigV4Verifier checks requests against a set of key pairs for one region.
class SigV4Verifier {
  // keys: Map accessKeyId -> secretAccessKey; region: the bucket's region.
  constructor({ keys, region, now = () => Date.now() }) {
    this.keys = keys;
    this.region = region;
    this.now = now;
  }

  // verify checks one request (method, raw path, raw query, headers as
  // Node's req.headersDistinct: lower-cased names, arrays of values; body
  // Buffer). It returns { accessKeyId, payload,
  // signedHeaders } or throws the S3Error S3 would answer with.
  async verify({ method, rawPath, rawQuery, headers, body }) {
    const authorization = headerValue(headers, 'authorization');
    if (authorization === undefined) {
      throw new S3Error(403, 'AccessDenied', 'Access Denied');
    }
    const auth = parseAuthorization(authorization);
    const secret = this.keys.get(auth.accessKeyId);
    if (secret === undefined) {
      throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
        AWSAccessKeyId: auth.accessKeyId,
      });
    }
    if (auth.service !== 's3') {
      throw new S3Error(400, 'AuthorizationHeaderMalformed',
        `The authorization header is malformed; incorrect service "${auth.service}". This endpoint belongs to "s3".`);
    }
    if (auth.region !== this.region) {
      throw new S3Error(400, 'AuthorizationHeaderMalformed',
        `The authorization header is malformed; the region '${auth.region}' is wrong; expecting '${this.region}'`, {
          Region: this.region,
        });
    }

    const contentSha256 = headerValue(headers, 'x-amz-content-sha256');
    if (contentSha256 === undefined) {
      throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    }
    const amzDateText = headerValue(headers, 'x-amz-date');
    const amzDate = parseAmzDate(amzDateText);
    if (amzDate === null) {
      throw new S3Error(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    }
    if (auth.date !== amzDateText.slice(0, 8)) {
      throw new S3Error(400, 'AuthorizationHeaderMalformed',
        `The authorization header is malformed; Invalid credential date "${auth.date}". This date is not the same as X-Amz-Date: "${amzDateText.slice(0, 8)}".`);
    }
    const skew = Math.abs(amzDate.getTime() - this.now());
    if (skew > MAX_CLOCK_SKEW_MS) {
      throw new S3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
        RequestTime: amzDateText,
        ServerTime: new Date(this.now()).toISOString(),
        MaxAllowedSkewMilliseconds: String(MAX_CLOCK_SKEW_MS),
      });
    }

    const signed = new Set(auth.signedHeaders);
    const missing = REQUIRED_SIGNED_HEADERS.filter((name) => !signed.has(name));
    const unsignedAmz = Object.keys(headers).filter((name) => name.startsWith('x-amz-') && !signed.has(name));
    if (missing.length > 0 || unsignedAmz.length > 0) {
      throw new S3Error(403, 'AccessDenied', 'There were headers present in the request which were not signed', {
        HeadersNotSigned: [...missing, ...unsignedAmz].join(', '),
      });
    }

    // Exactly the headers the client listed, in the form it sent them.
    const signedHeaderValues = {};
    for (const name of auth.signedHeaders) {
      const value = headerValue(headers, name);
      if (value !== undefined) signedHeaderValues[name] = value;
    }
    const request = {
      method,
      protocol: 'http:',
      hostname: String(headerValue(headers, 'host') || '').replace(/:\d+$/, ''),
      path: rawPath,
      query: parseRawQuery(rawQuery),
      headers: signedHeaderValues,
    };
    const signer = new SignatureV4({
      credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: secret },
      region: this.region,
      service: 's3',
      sha256: Sha256,
      // S3 signs the path as sent: encoded once, not normalized.
      uriEscapePath: false,
      applyChecksum: false,
    });
    // signer.sign() would drop a signed Date header and pick the headers
    // itself; its steps are called one by one instead, over exactly the
    // headers the client listed.
    const { longDate, shortDate } = signer.formatDate(amzDate);
    const canonicalHeaders = getCanonicalHeaders({ headers: signedHeaderValues }, undefined, signed);
    const canonicalRequest = signer.createCanonicalRequest(request, canonicalHeaders, contentSha256);
    const stringToSign = await signer.createStringToSign(
      longDate, createScope(shortDate, this.region, 's3'), canonicalRequest, ALGORITHM_IDENTIFIER);
    const expected = await signer.signString(stringToSign, { signingDate: amzDate });
    const canonicalList = Object.keys(canonicalHeaders).sort().join(';');
    if (expected !== auth.signature || canonicalList !== auth.signedHeaders.join(';')) {
      throw new S3Error(403, 'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
          AWSAccessKeyId: auth.accessKeyId,
          StringToSign: stringToSign,
          SignatureProvided: auth.signature,
          CanonicalRequest: canonicalRequest,
        });
    }

    const payload = checkPayload(contentSha256, body);
    return { accessKeyId: auth.accessKeyId, payload, signedHeaders: auth.signedHeaders };
  }
}

module.exports = { SigV4Verifier, parseAuthorization, parseRawQuery, parseAmzDate };
