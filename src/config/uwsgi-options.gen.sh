#!/usr/bin/env bash
# Regenerates uwsgi-options.ts from the uWSGI installed here (Debian: apt-get install uwsgi-core),
# so nuwsgi knows every uWSGI option name and whether it takes a value:
#   names: `uwsgi [--plugin P] --help` for the core and each plugin in /usr/lib/uwsgi/plugins;
#   arity: `uwsgi --get x --OPT` with OPT last: getopt says "requires an argument" only for
#          required_argument options (nothing runs: --get exits after reading the options);
#   plus the gevent plugin's four options (plugins/gevent/gevent.c; not packaged in uwsgi-core).
# Usage: src/config/uwsgi-options.gen.sh > src/config/uwsgi-options.ts
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
names() { grep -E '^\s+(-.\|)?--' | sed -E 's/^\s+((-(.))\|)?--([^ ]+).*/\4 \3/'; }

uwsgi --help | names | sort -u > core.txt
cut -d' ' -f1 core.txt | sed 's/$/ core/' > owner.txt
cat core.txt > shorts.txt
for so in /usr/lib/uwsgi/plugins/*_plugin.so; do
  p=$(basename "$so" _plugin.so)
  [[ "$p" =~ ^python3[0-9]+$ ]] && continue # python311 = python3, under its versioned name
  timeout 5 uwsgi --plugin "$p" --help 2>/dev/null | names | sort -u > "help-$p.txt" || true
  cat "help-$p.txt" >> shorts.txt
  cut -d' ' -f1 "help-$p.txt" | sort -u | comm -23 - <(cut -d' ' -f1 core.txt | sort -u) | sed "s/\$/ $p/" >> owner.txt
done
sort -u -k1,1 owner.txt > owners.txt

: > arity.txt
while read -r opt plugin; do
  load=(); [ "$plugin" = core ] || load=(--plugin "$plugin")
  out=$(timeout -s KILL 3 uwsgi "${load[@]}" --get x "--$opt" </dev/null 2>&1 || true)
  case "$out" in
    *'requires an argument'*) echo "$opt $plugin value" ;;
    *) echo "$opt $plugin flag" ;;
  esac >> arity.txt
done < owners.txt
printf 'gevent gevent value\ngevent-monkey-patch gevent flag\ngevent-early-monkey-patch gevent flag\ngevent-wait-for-hub gevent flag\n' >> arity.txt

node - arity.txt shorts.txt <<'JS'
const fs = require('node:fs');
const [arityFile, shortsFile] = process.argv.slice(2);
const groups = new Map();
for (const line of fs.readFileSync(arityFile, 'utf8').trim().split('\n')) {
  const [name, plugin, kind] = line.split(' ');
  if (!groups.has(plugin)) groups.set(plugin, { value: [], flag: [] });
  groups.get(plugin)[kind].push(name);
}
const order = [...groups.keys()].sort((a, b) => (a === 'core' ? -1 : b === 'core' ? 1 : groups.get(b).value.length + groups.get(b).flag.length - groups.get(a).value.length - groups.get(a).flag.length || a.localeCompare(b)));
const wrap = (names) => {
  const lines = [];
  let cur = '';
  for (const n of [...names].sort()) {
    if (cur && cur.length + 1 + n.length > 100) { lines.push(cur); cur = n; } else cur = cur ? `${cur} ${n}` : n;
  }
  if (cur) lines.push(cur);
  return lines.map((l) => `      ${l}`).join('\n');
};
const shorts = new Map();
for (const line of fs.readFileSync(shortsFile, 'utf8').split('\n').filter(Boolean).sort()) {
  const [name, letter] = line.split(' ');
  if (letter && !shorts.has(letter)) shorts.set(letter, name);
}
const out = [
  '/**',
  " * uWSGI's option table (names only, and whether each takes a value), so real uwsgi.ini files load:",
  ' * an option listed here that nuwsgi does not declare in options.ts is warned about and ignored,',
  ' * not rejected as unknown. Generated, do not edit by hand: see uwsgi-options.gen.sh.',
  ' *',
  ' * Source: uWSGI 2.0.21 as Debian packages it (uwsgi-core), core table (core/uwsgi.c) and every',
  ' * plugin shipped in /usr/lib/uwsgi/plugins (python3, http, routers, ...), plus the gevent plugin\'s',
  ' * four options (plugins/gevent/gevent.c). "values" options take an argument (required_argument);',
  ' * "flags" take none or an optional one (uWSGI\'s getopt needs `--opt=value` for those).',
  ' */',
  'export const UWSGI_OPTIONS: Record<string, { values: string; flags: string }> = {',
];
for (const p of order) {
  const g = groups.get(p);
  out.push(`  ${/^[A-Za-z_]\w*$/.test(p) ? p : `'${p}'`}: {`, '    values: `', wrap(g.value) + '`,', '    flags: `', wrap(g.flag) + '`,', '  },');
}
out.push('};', '', "/** uWSGI's single-letter forms (letter:option). */");
out.push(`export const UWSGI_SHORTS = '${[...shorts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([l, n]) => `${l}:${n}`).join(' ')}';`);
process.stdout.write(out.join('\n') + '\n');
JS
