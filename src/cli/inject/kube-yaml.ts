/**
 * How `remora inject` reads Kubernetes YAML: with the mesh config's safety rules (duplicate keys
 * are errors, aliases are bounded by `documentValue`) but as YAML 1.1, the dialect Kubernetes
 * itself decodes (go-yaml): `defaultMode: 0644` is octal 420, not decimal 644. Parsing it as 1.2
 * would silently change such values in the documents we print. Printing keeps comments outside
 * the edited nodes and writes multi-line strings (the iptables script) as literal blocks.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { documentValue } from '../../control-plane/mesh/document-cache';

export { documentValue };

/** Every document of `text` (YAML 1.1, unique keys); errors are on each document's `errors`. */
export function parseKubeYaml(text: string, lineCounter: LineCounter = new LineCounter()): Document.Parsed[] {
  return parseAllDocuments(text, { lineCounter, uniqueKeys: true, version: '1.1' }) as Document.Parsed[];
}

/** One document as text, without a leading `---` (the caller joins documents). */
export function renderKubeDocument(doc: Document): string {
  const s = doc.toString({ blockQuote: 'literal', lineWidth: 0, flowCollectionPadding: false });
  return s.startsWith('---\n') ? s.slice(4) : s;
}
