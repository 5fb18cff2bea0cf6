#!/usr/bin/env node
// stack.js: starts the S3 test stack of the pgbak_ext TAP tests: s3rver on
// a loopback port with its data in a given directory and the buckets
// created, and the verifying proxy (lib/proxy.js) on another loopback port
// in front of it. When both listen it prints one JSON line with the ports
// (and writes it to --ready-file, renamed into place so a reader never sees
// half of it); it runs until SIGTERM or SIGINT (or, with
// --exit-on-stdin-close, until its stdin closes, so that a test that dies
// without cleaning up does not leave it behind), then exits 0.
//
//   node stack.js --data-dir DIR --key AK:SECRET [--key AK2:SECRET2]
//        [--keys-file keys.json] [--bucket NAME]... [--region us-east-1]
//        [--address 127.0.0.1] [--s3-port 0] [--proxy-port 0]
//        [--ready-file FILE] [--log-file FILE] [--min-part-size BYTES]
//        [--locked-bucket NAME]... [--exit-on-stdin-close]
'use strict';

const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const S3rver = require('s3rver');
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');
const { SigV4Verifier } = require('./lib/sigv4');
const { VerifyingProxy } = require('./lib/proxy');

// usage prints the problem and the synopsis, and exits 2.
function usage(problem) {
  process.stderr.write(`stack.js: ${problem}\n`
    + 'usage: node stack.js --data-dir DIR --key AK:SECRET [--keys-file FILE] [--bucket NAME]...\n'
    + '       [--region REGION] [--address ADDR] [--s3-port N] [--proxy-port N]\n'
    + '       [--ready-file FILE] [--log-file FILE] [--min-part-size BYTES] [--locked-bucket NAME]...\n'
    + '       [--exit-on-stdin-close]\n');
  process.exit(2);
}

// readOptions parses the command line (and PGBAK_S3_BUCKET for the bucket).
function readOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'data-dir': { type: 'string' },
        key: { type: 'string', multiple: true, default: [] },
        'keys-file': { type: 'string' },
        bucket: { type: 'string', multiple: true, default: [] },
        region: { type: 'string', default: 'us-east-1' },
        address: { type: 'string', default: '127.0.0.1' },
        's3-port': { type: 'string', default: '0' },
        'proxy-port': { type: 'string', default: '0' },
        'ready-file': { type: 'string' },
        'log-file': { type: 'string' },
        'min-part-size': { type: 'string', default: String(5 * 1024 * 1024) },
        'locked-bucket': { type: 'string', multiple: true, default: [] },
        'exit-on-stdin-close': { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    usage(err.message);
  }
  if (!values['data-dir']) usage('--data-dir is required');
  const keys = new Map();
  for (const pair of values.key) {
    const colon = pair.indexOf(':');
    if (colon <= 0 || colon === pair.length - 1) usage(`--key wants ACCESS_KEY:SECRET, got "${pair}"`);
    keys.set(pair.slice(0, colon), pair.slice(colon + 1));
  }
  if (values['keys-file']) {
    const parsed = JSON.parse(fs.readFileSync(values['keys-file'], 'utf8'));
    for (const [accessKeyId, secret] of Object.entries(parsed)) keys.set(accessKeyId, String(secret));
  }
  if (keys.size === 0) usage('give at least one key pair (--key or --keys-file)');
  const buckets = values.bucket.length > 0 ? values.bucket : [process.env.PGBAK_S3_BUCKET || 'pgbak-test'];
  // A locked bucket is created like the others.
  for (const name of values['locked-bucket']) if (!buckets.includes(name)) buckets.push(name);
  return {
    dataDir: path.resolve(values['data-dir']),
    keys,
    buckets,
    region: values.region,
    address: values.address,
    s3Port: Number(values['s3-port']),
    proxyPort: Number(values['proxy-port']),
    readyFile: values['ready-file'],
    logFile: values['log-file'],
    minPartSize: Number(values['min-part-size']),
    lockedBuckets: values['locked-bucket'],
    exitOnStdinClose: values['exit-on-stdin-close'],
  };
}

async function main() {
  const options = readOptions();
  fs.mkdirSync(options.dataDir, { recursive: true });

  // s3rver knows one account; the proxy has verified the signature already,
  // s3rver only has to recognize the access key.
  for (const [accessKeyId, secret] of options.keys) DUMMY_ACCOUNT.createKeyPair(accessKeyId, secret);
  const s3rver = new S3rver({
    address: options.address,
    port: options.s3Port,
    directory: options.dataDir,
    silent: true,
    vhostBuckets: false,
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
  });
  const s3Address = await s3rver.run();

  const proxy = new VerifyingProxy({
    verifier: new SigV4Verifier({ keys: options.keys, region: options.region }),
    upstream: { host: options.address, port: s3Address.port },
    logFile: options.logFile,
    minPartSize: options.minPartSize,
    lockedBuckets: options.lockedBuckets,
  });
  const proxyPort = await proxy.listen(options.address, options.proxyPort);

  let stopping = false;
  const stop = async (why) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`stack.js: stopping (${why})\n`);
    await proxy.close();
    await s3rver.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (options.exitOnStdinClose) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }

  const ready = {
    pid: process.pid,
    proxy_port: proxyPort,
    s3rver_port: s3Address.port,
    proxy_url: `http://${options.address}:${proxyPort}`,
    s3rver_url: `http://${options.address}:${s3Address.port}`,
    buckets: options.buckets,
    locked_buckets: options.lockedBuckets,
    region: options.region,
    data_dir: options.dataDir,
  };
  const line = JSON.stringify(ready) + '\n';
  if (options.readyFile) {
    const partial = `${options.readyFile}.partial`;
    fs.writeFileSync(partial, line);
    fs.renameSync(partial, options.readyFile);
  }
  process.stdout.write(line);
}

main().catch((err) => {
  process.stderr.write(`stack.js: ${err.stack || err}\n`);
  process.exit(1);
});
