'use strict';
// co-wechat-api, unchanged, against a running wximg.
//
// Usage: node co_wechat_api_test.js BASE_URL APPID SECRET WORKDIR
// (run with NODE_PATH pointing at the node_modules that holds co-wechat-api)
// Prints one line per check: "ok - NAME" or "FAIL - NAME: DETAIL"; run.sh counts them.
//
// How co-wechat-api 3.x is pointed at another host (read from its installed source):
// - lib/api_common.js constructor: `this.prefix = 'https://api.weixin.qq.com/cgi-bin/'`;
// - lib/api_common.js getAccessToken: `this.prefix + 'token?grant_type=client_credential&…'`,
//   so the token follows prefix;
// - lib/api_media.js uploadImage (the last definition of it, which overrides the deprecated
//   alias of uploadMedia made earlier in the file):
//   `this.prefix + 'media/uploadimg?access_token=' + accessToken`, formstream part `media`,
//   filename = basename(filepath), Accept: application/json;
// - lib/api_common.js request: parses the body as JSON only when Content-Type contains
//   application/json or text/plain, throws WeChatAPIError with err.code = errcode.

const fs = require('fs');
const path = require('path');
const http = require('http');
const zlib = require('zlib');
const crypto = require('crypto');
const API = require('co-wechat-api');

const results = [];

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
    results.push(true);
  } catch (e) {
    let detail = e && e.message ? e.message : String(e);
    if (e && e.name === 'WeChatAPIError') detail += ` (WeChatAPIError code=${e.code})`;
    console.log(`FAIL - ${name}: ${detail}`);
    if (e && e.stack) console.error(e.stack);
    results.push(false);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

// --- pictures -------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

// A real PNG (8-bit RGB, random pixels) made here, so every run uploads new bytes.
function makePng(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const raw = Buffer.alloc(h * (1 + 3 * w));
  const noise = crypto.randomBytes(raw.length);
  for (let y = 0; y < h; y++) {
    const row = y * (1 + 3 * w);
    raw[row] = 0; // filter: none
    noise.copy(raw, row + 1, row + 1, row + 1 + 3 * w);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// The committed JPEG (made by a real encoder) with a COM segment holding a random nonce
// right after SOI: still a well-formed JPEG, and new bytes on every run.
function makeJpeg() {
  const src = fs.readFileSync(path.join(__dirname, 'fixtures', 'photo.jpg'));
  assert(src[0] === 0xff && src[1] === 0xd8, 'fixtures/photo.jpg is not a JPEG');
  const text = Buffer.from(`wximg sdk test ${crypto.randomBytes(8).toString('hex')}`);
  const com = Buffer.alloc(4);
  com[0] = 0xff;
  com[1] = 0xfe;
  com.writeUInt16BE(text.length + 2, 2);
  return Buffer.concat([src.subarray(0, 2), com, text, src.subarray(2)]);
}

const GIF_1X1 = Buffer.from(
  '47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b',
  'hex');

// --- checks ---------------------------------------------------------------------------

async function main() {
  const [base0, appid, secret, work] = process.argv.slice(2);
  if (!work) {
    console.error('usage: node co_wechat_api_test.js BASE_URL APPID SECRET WORKDIR');
    return 2;
  }
  const base = base0.replace(/\/+$/, '');
  const pkg = require('co-wechat-api/package.json');
  const api = new API(appid, secret);
  api.prefix = base + '/cgi-bin/';
  console.log(`# co-wechat-api ${pkg.version}, prefix=${api.prefix}`);

  await check('co-wechat-api: getAccessToken via prefix + token', async () => {
    const before = Date.now();
    const token = await api.getAccessToken();
    assert(typeof token.accessToken === 'string' && token.accessToken.length >= 16,
      `no accessToken in ${JSON.stringify(token)}`);
    // expireTime = now + (expires_in - 10) s
    const life = (token.expireTime - before) / 1000;
    assert(life > 7180 && life <= 7191, `expireTime implies expires_in ~${life + 10}, want 7200`);
    const again = await api.ensureAccessToken();
    assert(again.accessToken === token.accessToken, 'ensureAccessToken did not reuse the token');
  });

  await check('co-wechat-api: wrong secret -> WeChatAPIError 40125', async () => {
    const bad = new API(appid, '0'.repeat(32));
    bad.prefix = api.prefix;
    try {
      await bad.getAccessToken();
    } catch (e) {
      assert(e.name === 'WeChatAPIError', `threw ${e.name}: ${e.message}`);
      assert(Number(e.code) === 40125, `code ${e.code} (${e.message}), want 40125`);
      return;
    }
    throw new Error('no error for a wrong secret');
  });

  async function uploadAndFetch(data, filename, kind) {
    const file = path.join(work, filename);
    fs.writeFileSync(file, data);
    const res = await api.uploadImage(file);
    assert(res && typeof res === 'object' && !Buffer.isBuffer(res),
      `uploadImage returned ${Buffer.isBuffer(res) ? 'a raw Buffer (JSON not parsed: Content-Type?)' : JSON.stringify(res)}`);
    const url = res.url;
    assert(typeof url === 'string', `no url in ${JSON.stringify(res)}`);
    assert(url.startsWith(`${base}/mmbiz_${kind}/`), `url ${url} not under ${base}/mmbiz_${kind}/`);
    assert(url.endsWith('/0?from=appmsg'), `url ${url} does not end in /0?from=appmsg`);
    const got = await get(url);
    assert(got.status === 200, `GET ${url} -> ${got.status}`);
    const want = kind === 'jpg' ? 'image/jpeg' : 'image/png';
    assert(got.headers['content-type'] === want, `Content-Type ${got.headers['content-type']}`);
    assert(got.body.equals(data), `fetched ${got.body.length} bytes differ from the ${data.length} uploaded`);
  }

  await check('co-wechat-api: uploadImage(JPEG) -> URL serving the exact bytes',
    () => uploadAndFetch(makeJpeg(), 'photo.jpg', 'jpg'));
  await check('co-wechat-api: uploadImage(PNG) -> URL serving the exact bytes',
    () => uploadAndFetch(makePng(48, 32), 'picture.png', 'png'));

  function refused(data, filename) {
    return async () => {
      const file = path.join(work, filename);
      fs.writeFileSync(file, data);
      try {
        const res = await api.uploadImage(file);
        throw new Error(`accepted: ${Buffer.isBuffer(res) ? res.toString() : JSON.stringify(res)}`);
      } catch (e) {
        if (e.name !== 'WeChatAPIError') throw e;
        assert(Number(e.code) === 40005, `code ${e.code} (${e.message}), want 40005`);
        assert(/invalid file type/.test(e.message), `message ${e.message}`);
      }
    };
  }

  await check('co-wechat-api: GIF refused with WeChatAPIError 40005', refused(GIF_1X1, 'anim.gif'));
  await check('co-wechat-api: text file named .png refused with WeChatAPIError 40005',
    refused(Buffer.from('hello, this is not a picture\n'), 'notes.png'));

  return 0;
}

main().then((rc) => { process.exitCode = rc; }, (e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exitCode = 1;
});
