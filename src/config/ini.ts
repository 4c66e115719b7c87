/** One key = value line of a config file, with its 1-based line number. */
export interface RawEntry {
  key: string;
  value: string;
  line: number;
}

const SPACE = /^[ \t\r]+|[ \t\r]+$/g;

/**
 * uWSGI's INI reader (core/ini.c): only lines of the asked section count; leading/trailing spaces,
 * tabs and CRs are stripped; `;` or `#` first means a comment (there are no inline comments);
 * quotes are kept; the key ends at the first `=`; a line without `=` is a key with an empty value.
 * The section name is everything between `[` and the line's last character, verbatim.
 */
export function parseIni(text: string, section: string): { entries: RawEntry[]; sectionFound: boolean } {
  const entries: RawEntry[] = [];
  let current = '';
  let sectionFound = false;
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(SPACE, '');
    if (line === '' || line[0] === ';' || line[0] === '#') return;
    if (line[0] === '[') {
      current = line.slice(1, -1);
      if (current === section) sectionFound = true;
      return;
    }
    if (current !== section) return;
    const eq = line.indexOf('=');
    const key = eq === -1 ? line : line.slice(0, eq).replace(SPACE, '');
    const value = eq === -1 ? '' : line.slice(eq + 1).replace(SPACE, '');
    entries.push({ key, value, line: index + 1 });
  });
  return { entries, sectionFound };
}
