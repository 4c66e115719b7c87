// A CommonJS app (module.exports = listener) in a .cjs file, for test/e2e-responses.test.ts.
const { createHash } = require('node:crypto');

module.exports = (req, res) => {
  const hash = createHash('sha256');
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    hash.update(c);
  });
  req.on('end', () => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ kind: 'cjs', method: req.method, url: req.url, size, sha256: hash.digest('hex'), hasRequire: typeof require === 'function' }));
  });
};
