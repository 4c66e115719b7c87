-- wrk: POST a 100 KiB body on every request (the upload workload).
wrk.method = "POST"
wrk.body = string.rep("u", 100 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
