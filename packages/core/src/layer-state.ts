/**
 * How each verb changes the layering state. The state keeps the requests (what the user asked for) apart from the
 * packages the solver pulled in, so that uninstall can take a request's dependencies along and upgrade can resolve
 * the requests again on a new base.
 */
import type { PackageFile, PackageId } from './backend.js';
import { originLayerState } from './deploy/deploy.js';
import { requestName, type Deployment, type LayeredRecord, type LayerRequest, type LayerState } from './discover/sysroot.js';

export interface LayeredImport {
  package: PackageFile;
  ref: string;
  commit: string;
}

export interface InstallStateInput {
  baseCommit: string;
  backend: string;
  /** Names as typed on the command line. */
  names: string[];
  /** Package files named on the command line (opened). */
  files: PackageFile[];
  /** Everything layered by this transaction, in layer order. */
  imported: LayeredImport[];
  /** Packages the solver added only as dependencies or recommendations (by name); every other one was asked for. */
  pulledIn: Set<string>;
  /** Packages the tree already had for a request; a request the base alone satisfies is not kept. */
  alreadyInstalled?: PackageId[];
}

/** The state after an install on top of `previous` (null: a plain base). */
export function installState(previous: LayerState | null, input: InstallStateInput): LayerState {
  const requested: LayerRequest[] = [...(previous?.requested ?? [])];
  const add = (request: LayerRequest) => {
    const at = requested.findIndex((r) => r.name === request.name);
    if (at >= 0) requested[at] = request;
    else requested.push(request);
  };
  for (const text of input.names) add({ name: requestName(text), text });
  for (const pkg of input.files) add({ name: pkg.id.name, text: pkg.id.name, file: pkg.file });
  const wanted = new Set(requested.map((r) => r.name));
  // A virtual request ("awk") is met by a package of another name: the solver's reason says it was asked for.
  const packages: LayeredRecord[] = [
    ...(previous?.packages ?? []).map((p) => ({ ...p, requested: p.requested || wanted.has(p.name) })),
    ...input.imported.map((p) => ({ ...p.package.id, ref: p.ref, commit: p.commit, requested: !input.pulledIn.has(p.package.id.name), file: p.package.file })),
  ];
  const layered = (name: string) => packages.some((p) => p.name === name);
  const inBaseOnly = (name: string) => !layered(name) && (input.alreadyInstalled ?? []).some((p) => p.name === name);
  return {
    baseCommit: input.baseCommit,
    backend: input.backend,
    // History, as the user made it: names as typed, files by their package name.
    requests: [...(previous?.requests ?? []), ['install', ...input.names, ...input.files.map((p) => p.id.name)]],
    requested: requested.filter((r) => !inBaseOnly(r.name)),
    packages,
    scriptLayers: [...(previous?.scriptLayers ?? [])],
  };
}

/**
 * The requests of a deployment that lost its layers: no state in the tree, but our group in the origin (`ostree admin
 * upgrade` deploys the bare base and keeps the origin). Empty for every other deployment.
 */
export function droppedRequests(opened: { previous: LayerState | null; deployment?: Deployment }): LayerRequest[] {
  if (opened.previous || !opened.deployment) return [];
  return originLayerState(opened.deployment.origin)?.requested ?? [];
}
