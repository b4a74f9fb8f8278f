/** Real .rpm files for tests: a spec file generated from a declarative description, built with `rpmbuild -bb`. */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '@ostree-layer/core';
import { removeTree } from './cleanup.js';
import { run } from './run.js';

export interface RpmFileSpec {
  /** Absolute path in the package ("/usr/bin/x"). Parent directories are staged but not owned by the package. */
  path: string;
  /** A regular file with this content (default empty). */
  content?: string | Buffer;
  /** A regular file copied from the host (e.g. a static busybox). */
  source?: string;
  /** A symlink to this target, written as is. */
  symlink?: string;
  /** A directory owned by the package (`%dir`). */
  dir?: boolean;
  /** Default 0644 files, 0755 dirs; ignored for symlinks. */
  mode?: number;
  user?: string;
  group?: string;
  /** `%config`, or `%config(noreplace)` / `%config(missingok)`. */
  config?: boolean | 'noreplace' | 'missingok';
  /** `%ghost`: recorded in the header, no content in the payload. */
  ghost?: boolean;
  doc?: boolean;
}

export type RpmCompression = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'none';

/** A scriptlet body run by /bin/sh, or with another interpreter (`-p`, e.g. "<lua>" or "/usr/bin/busybox sh"). */
export type RpmScriptlet = string | { body?: string; interpreter?: string; /** `-e`: rpm expands macros in the body at install time. */ expand?: boolean };

export type RpmScriptletKind = 'pre' | 'post' | 'preun' | 'postun' | 'pretrans' | 'posttrans';

/** A file trigger section (`%filetriggerin -- /usr/lib` …). */
export interface RpmFileTrigger {
  kind: 'filetriggerin' | 'filetriggerun' | 'filetriggerpostun' | 'transfiletriggerin' | 'transfiletriggerun' | 'transfiletriggerpostun';
  /** Path prefixes the trigger watches. */
  prefixes: string[];
  body: string;
  /** `-p`: default /bin/sh. */
  interpreter?: string;
  /** `-P`: rpm's default is 1000000; at or above 10000 a %filetriggerin runs before the package's %post. */
  priority?: number;
}

export interface RpmSpec {
  name: string;
  version: string;
  /** Default "1". */
  release?: string;
  epoch?: number;
  /** Default "noarch"; "x86_64" builds for the host; another arch ("aarch64") is built with --target (no compiler runs). */
  arch?: string;
  summary?: string;
  description?: string;
  license?: string;
  requires?: string[];
  provides?: string[];
  conflicts?: string[];
  obsoletes?: string[];
  recommends?: string[];
  suggests?: string[];
  supplements?: string[];
  enhances?: string[];
  /** Let rpmbuild add ELF/soname dependencies; default false so the header says exactly what the spec says. */
  autoReqProv?: boolean;
  files: RpmFileSpec[];
  scripts?: Partial<Record<RpmScriptletKind, RpmScriptlet>>;
  fileTriggers?: RpmFileTrigger[];
  /** Package triggers: `%triggerin -- on` and friends. */
  packageTriggers?: Array<{ kind: 'triggerin' | 'triggerun' | 'triggerpostun' | 'triggerprein'; on: string; body: string }>;
  /** `Prefix:` lines: a relocatable package (scriptlets then see RPM_INSTALL_PREFIX). */
  prefixes?: string[];
  /** Payload compression; default "zstd" (what current Fedora ships; level 3 here, builds stay quick). */
  compression?: RpmCompression;
}

const PAYLOAD_IO: Record<RpmCompression, string> = {
  gzip: 'w9.gzdio',
  xz: 'w6.xzdio',
  zstd: 'w3.zstdio',
  bzip2: 'w9.bzdio',
  none: 'w.ufdio',
};

/** Escapes text for a spec file: "%" starts a macro. */
const macroSafe = (text: string): string => text.replace(/%/g, '%%');

function normalise(path: string, pkg: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new UsageError(`buildRpm ${pkg}: bad file path "${path}"`);
  return '/' + parts.join('/');
}

function filesLine(file: RpmFileSpec, path: string): string {
  const user = file.user ?? 'root';
  const group = file.group ?? 'root';
  const mode = file.symlink !== undefined ? '-' : (file.mode ?? (file.dir ? 0o755 : 0o644)).toString(8).padStart(4, '0');
  const flags: string[] = [];
  if (file.dir) flags.push('%dir');
  if (file.ghost) flags.push('%ghost');
  if (file.doc) flags.push('%doc');
  if (file.config) flags.push(file.config === true ? '%config' : `%config(${file.config})`);
  return [...flags, `%attr(${mode},${user},${group})`, `"${macroSafe(path)}"`].join(' ');
}

/** The spec file text for `spec`, installing from `stage` (a tree copied into the buildroot). */
export function rpmSpecText(spec: RpmSpec, stage: string): string {
  const lines = [
    `Name: ${spec.name}`,
    `Version: ${spec.version}`,
    `Release: ${spec.release ?? '1'}`,
    ...(spec.epoch !== undefined ? [`Epoch: ${spec.epoch}`] : []),
    `Summary: ${macroSafe(spec.summary ?? `${spec.name} test package`)}`,
    `License: ${spec.license ?? 'MIT'}`,
    // rpmbuild refuses a BuildArch the host cannot build for; --target alone names a foreign arch.
    ...(spec.arch === undefined || spec.arch === 'noarch' || spec.arch === 'x86_64' ? [`BuildArch: ${spec.arch ?? 'noarch'}`] : []),
    `AutoReqProv: ${spec.autoReqProv ? 'yes' : 'no'}`,
  ];
  const relations: [string, string[] | undefined][] = [
    ['Requires', spec.requires],
    ['Provides', spec.provides],
    ['Conflicts', spec.conflicts],
    ['Obsoletes', spec.obsoletes],
    ['Recommends', spec.recommends],
    ['Suggests', spec.suggests],
    ['Supplements', spec.supplements],
    ['Enhances', spec.enhances],
  ];
  for (const [tag, values] of relations) for (const value of values ?? []) lines.push(`${tag}: ${value}`);
  for (const prefix of spec.prefixes ?? []) lines.push(`Prefix: ${prefix}`);
  lines.push('', '%description', macroSafe(spec.description ?? `${spec.name} test package built by the ostree-layer testkit.`));
  lines.push('', '%install', `cp -a "${stage}/." "%{buildroot}/"`);
  for (const [name, scriptlet] of Object.entries(spec.scripts ?? {})) {
    if (scriptlet === undefined) continue;
    const { body, interpreter, expand } = typeof scriptlet === 'string' ? { body: scriptlet, interpreter: undefined, expand: false } : scriptlet;
    lines.push('', [`%${name}`, ...(interpreter ? ['-p', `"${macroSafe(interpreter)}"`] : []), ...(expand ? ['-e'] : [])].join(' '));
    if (body !== undefined) lines.push(macroSafe(body));
  }
  for (const trigger of spec.fileTriggers ?? []) {
    const options = [
      ...(trigger.interpreter ? ['-p', `"${macroSafe(trigger.interpreter)}"`] : []),
      ...(trigger.priority !== undefined ? ['-P', String(trigger.priority)] : []),
    ];
    lines.push('', [`%${trigger.kind}`, ...options, '--', ...trigger.prefixes.map(macroSafe)].join(' '), macroSafe(trigger.body));
  }
  for (const trigger of spec.packageTriggers ?? []) lines.push('', `%${trigger.kind} -- ${trigger.on}`, macroSafe(trigger.body));
  lines.push('', '%files');
  for (const file of spec.files) lines.push(filesLine(file, normalise(file.path, spec.name)));
  return lines.join('\n') + '\n';
}

/** Builds `<dir>/<name>-<version>-<release>.<arch>.rpm` with the real rpmbuild and returns its path. */
export async function buildRpm(dir: string, spec: RpmSpec): Promise<string> {
  const outDir = resolve(dir);
  await mkdir(outDir, { recursive: true });
  const work = await mkdtemp(join(outDir, `.rpmbuild-${spec.name}-`));
  try {
    const stage = join(work, 'stage');
    await mkdir(stage);
    await chmod(stage, 0o755);
    for (const file of spec.files) {
      const path = join(stage, normalise(file.path, spec.name));
      await mkdir(dirname(path), { recursive: true });
      if (file.dir) await mkdir(path, { recursive: true });
      else if (file.symlink !== undefined) await symlink(file.symlink, path);
      else if (file.source) await copyFile(file.source, path);
      else if (file.ghost && file.content === undefined) continue;
      else await writeFile(path, file.content ?? '');
      // %attr sets the header's mode; the staged mode only has to let cp and rpmbuild read it.
    }
    const specFile = join(work, `${spec.name}.spec`);
    await writeFile(specFile, rpmSpecText(spec, stage));
    const arch = spec.arch ?? 'noarch';
    await mkdir(join(work, 'tmp'));
    await run(
      'rpmbuild',
      [
        '-bb',
        '--quiet',
        `--define=_topdir ${work}/top`,
        // Debian's rpm keeps its database in ~/.rpmdb; rpmbuild never needs one, keep it out of $HOME.
        `--define=_dbpath ${work}/rpmdb`,
        `--define=_tmppath ${work}/tmp`,
        `--define=_binary_payload ${PAYLOAD_IO[spec.compression ?? 'zstd']}`,
        // The payload must be what the spec says: no stripping, man-page compression, debuginfo or build-id links.
        '--define=__os_install_post %{nil}',
        '--define=debug_package %{nil}',
        '--define=_build_id_links none',
        // Same spec, same bytes: build time, host and file mtimes come from SOURCE_DATE_EPOCH.
        '--define=use_source_date_epoch_as_buildtime 1',
        '--define=clamp_mtime_to_source_date_epoch 1',
        '--define=_buildhost testkit.invalid',
        ...(arch === 'noarch' ? [] : [`--target=${arch}`]),
        specFile,
      ],
      { env: { SOURCE_DATE_EPOCH: '1700000000', HOME: work }, hint: `buildRpm ${spec.name}: rpmbuild refused the generated spec (${specFile})` },
    );
    const built = join(work, 'top', 'RPMS', arch);
    const names = existsSync(built) ? (await readdir(built)).filter((n) => n.endsWith('.rpm')) : [];
    if (names.length !== 1) throw new UsageError(`buildRpm ${spec.name}: expected one rpm in ${built}, found ${names.length}`);
    const out = join(outDir, names[0]!);
    await rename(join(built, names[0]!), out);
    return out;
  } finally {
    await removeTree(work);
  }
}
