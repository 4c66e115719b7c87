# The bench's app for real uWSGI + Python: the same routes and bytes as bench-app.mjs.
import json
import time

HELLO = b'Hello, World!\n'
ITEMS = [{'id': i, 'name': 'item-%d' % i, 'tags': ['alpha', 'beta', 'gamma'], 'priceCents': i * 150, 'active': i % 2 == 0}
         for i in range(176)]
DOC = {'count': len(ITEMS), 'items': ITEMS}
DOWNLOAD = b'x' * (1024 * 1024)
BIG_BYTES = 64 * 1024 * 1024
BIG_CHUNK = b'y' * (1024 * 1024)
SLEEP_S = 0.05


def ok(start_response, ctype, body):
    start_response('200 OK', [('Content-Type', ctype), ('Content-Length', str(len(body)))])
    return [body]


def count_body(environ):
    stream, n = environ['wsgi.input'], 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return n
        n += len(chunk)


def big():
    for _ in range(BIG_BYTES // len(BIG_CHUNK)):
        yield BIG_CHUNK


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/hello':
        return ok(start_response, 'text/plain', HELLO)
    if path == '/json':
        return ok(start_response, 'application/json', json.dumps(DOC, separators=(',', ':')).encode())
    if path == '/download':
        return ok(start_response, 'application/octet-stream', DOWNLOAD)
    if path in ('/upload', '/big-upload'):
        return ok(start_response, 'text/plain', b'%d\n' % count_body(environ))
    if path == '/sleep':
        time.sleep(SLEEP_S)
        return ok(start_response, 'text/plain', HELLO)
    if path == '/big-download':
        start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', str(BIG_BYTES))])
        return big()
    start_response('404 Not Found', [('Content-Type', 'text/plain'), ('Content-Length', '10')])
    return [b'not found\n']
