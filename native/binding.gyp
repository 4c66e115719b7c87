{
  "targets": [
    {
      "target_name": "nuwsgi_native",
      "sources": ["src/acceptor.c"],
      "cflags_c": ["-std=gnu11"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
        }
      }
    }
  ]
}
