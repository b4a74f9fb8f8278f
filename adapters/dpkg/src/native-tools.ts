/**
 * What makes the layered database the one a deployment's own, unmodified dpkg and apt read.
 *
 * dpkg, dpkg-query, apt, python-apt, debsums and update-alternatives all hard-code /var/lib/dpkg, and /var is the
 * stateroot's, shared by every deployment and never updated by a deploy. A tmpfiles.d `L+` line turns /var/lib/dpkg
 * into a link to the database in the booted deployment's /usr at every boot (measured with systemd 252: `L+` replaces
 * an existing directory, empty or not, and creates missing parents). A dpkg.cfg.d `admindir` was measured too: `dpkg
 * -l` follows it, but `dpkg-query` and apt do not. Writing verbs then fail on the read-only /usr ("unable to access
 * the dpkg database directory /var/lib/dpkg: Read-only file system").
 *
 * apt keeps its Auto-Installed marks in `extended_states`; an apt.conf.d line moves it next to the database so the
 * marks follow the deployment (and `apt-mark` fails on the read-only /usr instead of writing marks a reboot loses).
 */
import type { LayerFile, PackageId, TreeReader } from '@ostree-layer/core';
import { parseParagraphs } from './control.js';

/** The mutable location every Debian tool expects; a tree that keeps its database there needs nothing. */
export const LEGACY_ADMINDIR = '/var/lib/dpkg';
export const DPKG_TMPFILES = '/usr/lib/tmpfiles.d/ostree-layer-dpkg.conf';
export const EXTENDED_STATES = '/usr/lib/sysimage/apt/extended_states';
const APT_CONF = 'apt/apt.conf.d/50ostree-layer';

/** An apt mark: `Auto-Installed: 1` for (name, arch). Architecture "all" is recorded as the native one, as apt does. */
export interface AutoMark {
  name: string;
  arch: string;
}

export interface NativeToolChange {
  /** Packages newly installed as dependencies. */
  automatic?: PackageId[];
  /** Packages leaving the tree: their marks go. */
  removed?: PackageId[];
  /** The tree's native architecture, for arch-all packages. */
  nativeArch: string;
}

/** The files that point dpkg and apt at `location` in `tree`, with apt's marks updated by `change`. */
export async function nativeToolFiles(tree: TreeReader, location: string, change: NativeToolChange): Promise<LayerFile[]> {
  if (location === LEGACY_ADMINDIR) return [];
  const etc = (await tree.lstat('/usr/etc'))?.type === 'directory' ? '/usr/etc' : '/etc';
  const marks = await readAutoMarks(tree);
  const archOf = (arch: string) => (arch === 'all' ? change.nativeArch : arch);
  const gone = new Set((change.removed ?? []).map((p) => `${p.name}:${archOf(p.arch)}`));
  const kept = marks.filter((m) => !gone.has(`${m.name}:${m.arch}`));
  for (const p of change.automatic ?? []) {
    const mark = { name: p.name, arch: archOf(p.arch) };
    if (!kept.some((m) => m.name === mark.name && m.arch === mark.arch)) kept.push(mark);
  }
  return [
    {
      path: DPKG_TMPFILES,
      type: 'file',
      mode: 0o644,
      content: `# ostree-layer: dpkg and apt read the database of the booted deployment\nL+ ${LEGACY_ADMINDIR} - - - - ${location}\n`,
    },
    {
      path: `${etc}/${APT_CONF}`,
      type: 'file',
      mode: 0o644,
      content: `// ostree-layer: apt's Auto-Installed marks live with the deployment's package database\nDir::State::extended_states "${EXTENDED_STATES}";\n`,
    },
    { path: EXTENDED_STATES, type: 'file', mode: 0o644, content: formatAutoMarks(kept) },
  ];
}

/** The marks the tree carries (none when it has no extended_states of its own). */
export async function readAutoMarks(tree: TreeReader): Promise<AutoMark[]> {
  if ((await tree.lstat(EXTENDED_STATES))?.type !== 'file') return [];
  return parseParagraphs((await tree.readFile(EXTENDED_STATES)).toString('utf8'))
    .filter((p) => p.get('Auto-Installed') === '1' && p.get('Package'))
    .map((p) => ({ name: p.get('Package')!, arch: p.get('Architecture') ?? '' }));
}

function formatAutoMarks(marks: AutoMark[]): string {
  return marks.map((m) => `Package: ${m.name}\nArchitecture: ${m.arch}\nAuto-Installed: 1\n`).join('\n');
}
