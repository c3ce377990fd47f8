/**
 * The injection template: what `remora inject` adds to a pod (init containers, containers,
 * volumes), as a YAML mapping with `{{placeholder}}` strings (default
 * `k8s/injection-template.yaml`, resolved from the package root so it also works from dist/).
 * Placeholders are filled in the parsed tree, never by editing the text, so a value cannot change
 * the YAML structure. A string may contain scalar placeholders (`{{image}}`); a sequence item that
 * is exactly `{{appPortArgs}}` or `{{labelArgs}}` is replaced by that list of arguments. Unknown
 * placeholders, a splice outside a sequence and a template without a `remora-proxy` container are
 * errors when the template is loaded, not when it is filled.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { LineCounter } from 'yaml';
import { documentValue, parseKubeYaml } from './kube-yaml';

/** The container name that marks a pod as injected (inject is idempotent on it). */
export const PROXY_CONTAINER = 'remora-proxy';

/** Scalar placeholders: `{{name}}` anywhere inside a string. */
export const SCALAR_PLACEHOLDERS = ['image', 'controlPlane', 'caAddress', 'workload', 'serviceAccount', 'iptablesScript'] as const;
/** List placeholders: a whole sequence item, replaced by several items. */
export const LIST_PLACEHOLDERS = ['appPortArgs', 'labelArgs'] as const;

export type ScalarPlaceholder = (typeof SCALAR_PLACEHOLDERS)[number];

/** The values a template is filled with, for one pod template. */
export interface TemplateValues {
  readonly image: string;
  readonly controlPlane: string;
  readonly caAddress: string;
  readonly workload: string;
  readonly serviceAccount: string;
  readonly iptablesScript: string;
  readonly appPorts: readonly number[];
  readonly labels: Readonly<Record<string, string>>;
}

/** What a filled template adds to a pod spec. */
export interface FilledTemplate {
  initContainers: Record<string, unknown>[];
  containers: Record<string, unknown>[];
  volumes: Record<string, unknown>[];
}

/** A loaded, checked template. Immutable; `fillTemplate` copies it. */
export interface InjectionTemplate {
  /** Where it came from (for messages). */
  readonly source: string;
  readonly initContainers: readonly unknown[];
  readonly containers: readonly unknown[];
  readonly volumes: readonly unknown[];
}

/** A template that cannot be used; the message names the source and the field path. */
export class TemplateError extends Error {}

const SECTIONS = ['initContainers', 'containers', 'volumes'] as const;
const PLACEHOLDER_RE = /\{\{\s*([A-Za-z]+)\s*\}\}/g;
const WHOLE_RE = /^\{\{\s*([A-Za-z]+)\s*\}\}$/;

/** The package root (the directory holding package.json), from src/ under tsx or from dist/. */
export function packageRoot(from: string = __dirname): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the package root above ${from}`);
    dir = up;
  }
  return dir;
}

/** `k8s/injection-template.yaml` of this package. */
export function defaultTemplatePath(): string {
  return path.join(packageRoot(), 'k8s', 'injection-template.yaml');
}

/** Reads and checks a template file. Throws TemplateError naming the file. */
export function loadInjectionTemplate(file: string): InjectionTemplate {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TemplateError(`${file}: cannot read the injection template (${(err as Error).message})`);
  }
  return parseInjectionTemplate(text, file);
}

/** Parses and checks template text (one YAML 1.1 document, as Kubernetes reads it). Throws TemplateError naming `source` and the field path. */
export function parseInjectionTemplate(text: string, source: string): InjectionTemplate {
  const docs = parseKubeYaml(text, new LineCounter()).filter((d) => d.contents !== null || d.errors.length > 0);
  if (docs.length !== 1) throw new TemplateError(`${source}: expected one YAML document, got ${docs.length}`);
  const doc = docs[0]!;
  if (doc.errors.length > 0) throw new TemplateError(`${source}: invalid YAML: ${doc.errors[0]!.message}`);
  let root: unknown;
  try {
    root = documentValue(doc);
  } catch (err) {
    throw new TemplateError(`${source}: invalid YAML: ${(err as Error).message}`);
  }
  if (!isMapping(root)) throw new TemplateError(`${source}: expected a mapping with initContainers, containers and volumes`);
  for (const k of Object.keys(root)) if (!(SECTIONS as readonly string[]).includes(k)) throw new TemplateError(`${source}: ${k}: unknown field; expected ${SECTIONS.join(', ')}`);
  const sections: Record<string, unknown[]> = {};
  for (const s of SECTIONS) {
    const v = root[s] ?? [];
    if (!Array.isArray(v)) throw new TemplateError(`${source}: ${s}: expected a sequence`);
    v.forEach((item, i) => {
      if (!isMapping(item)) throw new TemplateError(`${source}: ${s}[${i}]: expected a mapping`);
      if (typeof item['name'] !== 'string' || item['name'] === '') throw new TemplateError(`${source}: ${s}[${i}].name: required`);
      checkPlaceholders(item, `${s}[${i}]`, source, false);
    });
    sections[s] = v;
  }
  if (!sections['containers']!.some((c) => (c as Record<string, unknown>)['name'] === PROXY_CONTAINER)) {
    throw new TemplateError(`${source}: containers: must contain a container named '${PROXY_CONTAINER}' (it marks a pod as injected)`);
  }
  return deepFreeze({ source, initContainers: sections['initContainers']!, containers: sections['containers']!, volumes: sections['volumes']! });
}

/** A deep copy of the template's sections with every placeholder replaced. */
export function fillTemplate(t: InjectionTemplate, v: TemplateValues): FilledTemplate {
  const scalars: Record<ScalarPlaceholder, string> = {
    image: v.image, controlPlane: v.controlPlane, caAddress: v.caAddress,
    workload: v.workload, serviceAccount: v.serviceAccount, iptablesScript: v.iptablesScript,
  };
  const lists: Record<string, string[]> = {
    appPortArgs: v.appPorts.flatMap((p) => ['--app-port', String(p)]),
    labelArgs: Object.keys(v.labels).flatMap((k) => ['--label', `${k}=${v.labels[k]}`]),
  };
  const fill = (x: unknown): unknown => {
    if (typeof x === 'string') return x.replace(PLACEHOLDER_RE, (_, name: string) => scalars[name as ScalarPlaceholder]);
    if (Array.isArray(x)) {
      const out: unknown[] = [];
      for (const item of x) {
        const whole = typeof item === 'string' ? WHOLE_RE.exec(item) : null;
        if (whole !== null && lists[whole[1]!] !== undefined) out.push(...lists[whole[1]!]!);
        else out.push(fill(item));
      }
      return out;
    }
    if (isMapping(x)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x)) out[k] = fill(x[k]);
      return out;
    }
    return x;
  };
  return {
    initContainers: t.initContainers.map(fill) as Record<string, unknown>[],
    containers: t.containers.map(fill) as Record<string, unknown>[],
    volumes: t.volumes.map(fill) as Record<string, unknown>[],
  };
}

function checkPlaceholders(x: unknown, at: string, source: string, inSequence: boolean): void {
  if (typeof x === 'string') {
    const whole = WHOLE_RE.exec(x);
    if (whole !== null && (LIST_PLACEHOLDERS as readonly string[]).includes(whole[1]!)) {
      if (!inSequence) throw new TemplateError(`${source}: ${at}: {{${whole[1]}}} must be a whole sequence item`);
      return;
    }
    for (const m of x.matchAll(PLACEHOLDER_RE)) {
      if (!(SCALAR_PLACEHOLDERS as readonly string[]).includes(m[1]!)) {
        const hint = (LIST_PLACEHOLDERS as readonly string[]).includes(m[1]!) ? ' (a list placeholder must be a whole sequence item)' : `; expected one of ${[...SCALAR_PLACEHOLDERS, ...LIST_PLACEHOLDERS].join(', ')}`;
        throw new TemplateError(`${source}: ${at}: unknown placeholder {{${m[1]}}}${hint}`);
      }
    }
    return;
  }
  if (Array.isArray(x)) x.forEach((item, i) => checkPlaceholders(item, `${at}[${i}]`, source, true));
  else if (isMapping(x)) for (const k of Object.keys(x)) checkPlaceholders(x[k], `${at}.${k}`, source, false);
}

/** A plain mapping (not null, not a sequence). */
export function isMapping(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null) {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}
