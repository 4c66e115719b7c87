// The pure TypeScript path, kept and tested as the fallback for machines where the native
// acceptor is not built: the request, response, framework and fault cases again, with every
// server these tests start told --no-native-io. The first import sets that (ES modules run in
// import order); the other test files run with the native acceptor, which `npm install` builds.
import './helpers/no-native-io.js';
import './e2e-requests.test.js';
import './e2e-responses.test.js';
import './e2e-frameworks.test.js';
import './hardening-faults.test.js';
import './hardening-limits.test.js';
