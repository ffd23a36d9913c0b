#!/usr/bin/env node
/**
 * Offline validation of deploy/k8s: every YAML document against the Kubernetes, KEDA and
 * Prometheus Operator schemas (kubernetes-models), every kustomization's references, and
 * each overlay's patches applied to the base (a strategic-merge subset: objects merge,
 * lists of named items merge by name, other lists replace), so the rendered workers are
 * validated too. Prints one line per problem; exits 1 if any.
 *   node deploy/validate.mjs [--json]   (--json prints the rendered overlays)
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as batch from 'kubernetes-models/batch/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const root = resolve(process.env.OVERMAP_K8S_DIR ?? join(dirname(fileURLToPath(import.meta.url)), 'k8s'));
const models = {
  v1: core,
  'apps/v1': apps,
  'batch/v1': batch,
  'policy/v1': policy,
  'keda.sh/v1alpha1': keda,
  'monitoring.coreos.com/v1': monitoring,
};
const problems = [];

function yamlFiles(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(f) ? [p] : [];
  });
}

export function loadDocs(file) {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) problems.push(`${relative(root, file)}: YAML error ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter(Boolean);
}

function validate(doc, where) {
  const group = models[doc.apiVersion];
  const Model = group?.[doc.kind];
  if (!Model) {
    problems.push(`${where}: no schema for ${doc.apiVersion} ${doc.kind}`);
    return;
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    problems.push(`${where}: ${doc.kind} ${doc.metadata?.name}: ${e.message}`);
  }
}

export function merge(base, patch) {
  if (Array.isArray(base) && Array.isArray(patch)) {
    if (patch.every((p) => p && typeof p === 'object' && 'name' in p)) {
      const out = base.map((b) => ({ ...b }));
      for (const p of patch) {
        const i = out.findIndex((b) => b.name === p.name);
        if (i >= 0) out[i] = merge(out[i], p);
        else out.push(p);
      }
      return out;
    }
    return patch;
  }
  if (base && patch && typeof base === 'object' && typeof patch === 'object') {
    const out = { ...base };
    for (const [k, v] of Object.entries(patch)) out[k] = k in base ? merge(base[k], v) : v;
    return out;
  }
  return patch;
}

/** Renders a kustomization directory: its resources (recursively) with its patches applied. */
export function render(dir) {
  const k = loadDocs(join(dir, 'kustomization.yaml'))[0];
  let docs = [];
  for (const r of k.resources ?? []) {
    const p = join(dir, r);
    if (!existsSync(p)) {
      problems.push(`${relative(root, dir)}/kustomization.yaml: resource ${r} does not exist`);
      continue;
    }
    docs.push(...(statSync(p).isDirectory() ? render(p) : loadDocs(p)));
  }
  for (const c of k.components ?? []) docs.push(...render(join(dir, c)));
  for (const patch of k.patches ?? []) {
    const p = join(dir, patch.path);
    if (!existsSync(p)) {
      problems.push(`${relative(root, dir)}: patch ${patch.path} does not exist`);
      continue;
    }
    for (const pd of loadDocs(p)) {
      const i = docs.findIndex((d) => d.kind === pd.kind && d.metadata?.name === pd.metadata?.name);
      if (i < 0)
        problems.push(`${relative(root, p)}: patches ${pd.kind} ${pd.metadata?.name}, which the base does not have`);
      else docs[i] = merge(docs[i], pd);
    }
  }
  if (k.namespace)
    docs = docs.map((d) =>
      d.kind === 'Namespace' ? d : { ...d, metadata: { ...d.metadata, namespace: k.namespace } },
    );
  return docs;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  for (const f of yamlFiles(root)) {
    const rel = relative(root, f);
    if (f.endsWith('kustomization.yaml')) continue;
    if (/overlays\//.test(rel)) continue; // patches are partial: validated after rendering
    loadDocs(f).forEach((d, i) => validate(d, `${rel}#${i}`));
  }
  const rendered = {};
  for (const o of readdirSync(join(root, 'overlays'))) {
    rendered[o] = render(join(root, 'overlays', o));
    rendered[o].forEach((d) => validate(d, `overlays/${o} (rendered) ${d.kind}/${d.metadata?.name}`));
  }
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(rendered, null, 2));
  if (problems.length) {
    for (const p of problems) console.error(p);
    process.exit(1);
  }
  if (!process.argv.includes('--json'))
    console.log(`deploy/k8s: ${Object.keys(rendered).length} overlays rendered, all manifests valid`);
}
