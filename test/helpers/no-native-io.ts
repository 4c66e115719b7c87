// Imported first by test/ts-path.test.ts: every server started after this runs the pure
// TypeScript path (UWSGI_NATIVE_IO maps to --native-io by uWSGI's environment rule).
process.env.UWSGI_NATIVE_IO = 'false';
