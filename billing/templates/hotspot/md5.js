/* MD5 (RFC 1321) for the hotspot login page's HTTP-CHAP: hexMD5(s) is the MD5 digest of the
 * string s read as bytes (each character's code modulo 256, which is how the router's octal-escaped
 * chap-id and chap-challenge strings arrive), in lower-case hexadecimal.
 * Written for aaad; no dependencies, ES3 so that the oldest captive-portal browsers run it. */
(function (scope) {
  var SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  var K = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
    0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
    0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
    0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
    0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391
  ];

  function add32(a, b) {
    return (a + b) | 0;
  }

  function rotl(x, n) {
    return (x << n) | (x >>> (32 - n));
  }

  /* The message as little-endian 32-bit words, padded: a 1 bit, zeros, the length in bits. */
  function words(s) {
    var n = s.length, total = (((n + 8) >> 6) + 1) * 16, w = [], i;
    for (i = 0; i < total; i++) {
      w[i] = 0;
    }
    for (i = 0; i < n; i++) {
      w[i >> 2] |= (s.charCodeAt(i) & 0xff) << ((i % 4) * 8);
    }
    w[n >> 2] |= 0x80 << ((n % 4) * 8);
    w[total - 2] = (n * 8) | 0;
    w[total - 1] = Math.floor(n / 536870912);
    return w;
  }

  function hex(x) {
    var out = '', j, b;
    for (j = 0; j < 4; j++) {
      b = (x >>> (j * 8)) & 0xff;
      out += (b < 16 ? '0' : '') + b.toString(16);
    }
    return out;
  }

  function hexMD5(s) {
    var w = words(String(s));
    var h0 = 0x67452301, h1 = 0xefcdab89 | 0, h2 = 0x98badcfe | 0, h3 = 0x10325476;
    var block, i, a, b, c, d, f, g, t;
    for (block = 0; block < w.length; block += 16) {
      a = h0; b = h1; c = h2; d = h3;
      for (i = 0; i < 64; i++) {
        if (i < 16) {
          f = (b & c) | (~b & d); g = i;
        } else if (i < 32) {
          f = (d & b) | (~d & c); g = (5 * i + 1) % 16;
        } else if (i < 48) {
          f = b ^ c ^ d; g = (3 * i + 5) % 16;
        } else {
          f = c ^ (b | ~d); g = (7 * i) % 16;
        }
        t = d; d = c; c = b;
        b = add32(b, rotl(add32(add32(a, f), add32(K[i] | 0, w[block + g])), SHIFTS[(i >> 4) * 4 + (i % 4)]));
        a = t;
      }
      h0 = add32(h0, a); h1 = add32(h1, b); h2 = add32(h2, c); h3 = add32(h3, d);
    }
    return hex(h0) + hex(h1) + hex(h2) + hex(h3);
  }

  scope.hexMD5 = hexMD5;
}(this));
