import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { RawEntry } from './ini.js';

/** A node of fast-xml-parser's preserveOrder output: { tag: children, ':@': attributes }. */
type XmlNode = Record<string, unknown>;

const ATTRS = ':@';
const META = XMLParser.getMetaDataSymbol() as unknown as string;

/**
 * Settings matching uWSGI's libxml2 reader (reference §1.4): attributes kept (for id), values
 * untrimmed and unparsed (0660 stays 0660), document order preserved, node offsets for line numbers.
 */
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  preserveOrder: true,
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  captureMetaData: true,
});

function tagOf(node: XmlNode): string {
  return Object.keys(node).find((k) => k !== ATTRS) ?? '';
}

const isElement = (node: XmlNode) => !tagOf(node).startsWith('#') && !tagOf(node).startsWith('?');

export class XmlError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/**
 * The options of an XML config (core/xmlconf.c): the children of the `<uwsgi>` root, else of the
 * root's first `<uwsgi>` child; with `id`, the first `<uwsgi>` whose id matches or has no id (as
 * uWSGI 2.0.21 picks). Each child element is an option, its text the value, untrimmed; an empty
 * element is "1". Attributes are ignored. Elements inside an option are an error (uWSGI crashes).
 */
export function parseXml(text: string, id: string | undefined): { entries: RawEntry[]; warnings: { line: number; message: string }[] } {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new XmlError(`malformed XML: ${valid.err.msg}`, valid.err.line);
  const lineAt = (node: XmlNode) => {
    const start = (node[META] as { startIndex?: number } | undefined)?.startIndex ?? 0;
    let line = 1;
    for (let i = 0; i < start; i++) if (text.charCodeAt(i) === 10) line++;
    return line;
  };
  const top = (parser.parse(text) as XmlNode[]).filter(isElement);
  const root = top[0];
  if (!root) throw new XmlError('no root element');
  const children = (node: XmlNode) => (node[tagOf(node)] as XmlNode[]).filter(isElement);
  const candidates = tagOf(root) === 'uwsgi' ? [root] : children(root).filter((n) => tagOf(n) === 'uwsgi');
  const attrs = (node: XmlNode) => (node[ATTRS] ?? {}) as Record<string, string>;
  const stanza = id === undefined ? candidates[0] : candidates.find((n) => attrs(n).id === id || attrs(n).id === undefined);
  if (!stanza) throw new XmlError(id === undefined ? 'no <uwsgi> element' : `no <uwsgi id="${id}"> element`);

  const entries: RawEntry[] = [];
  const warnings: { line: number; message: string }[] = [];
  for (const option of children(stanza)) {
    const key = tagOf(option);
    const line = lineAt(option);
    if (attrs(option).mode !== undefined) {
      warnings.push({ line, message: `<${key} mode="${attrs(option).mode}"> skipped: nuwsgi has no uWSGI modes` });
      continue;
    }
    const content = option[key] as XmlNode[];
    if (content.some(isElement)) throw new XmlError(`<${key}> contains elements; an option's value is its text`, line);
    const value = content.map((n) => String(n['#text'] ?? '')).join('');
    entries.push({ key, value: value === '' ? '1' : value, line });
  }
  return { entries, warnings };
}
