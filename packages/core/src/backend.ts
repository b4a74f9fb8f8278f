/**
 * The backend contract: everything the engine needs from a package format, and nothing more.
 *
 * The core knows nothing of dpkg or rpm. A backend (an adapter package) implements {@link Backend} and registers it
 * as the `backend` of its format's plugin (plugin.ts); the engine picks it with {@link Backend.detect} on the
 * deployment's tree, or with {@link Backend.supportsFile} for a package file.
 * Paths handed across this contract are absolute, normalised ("/usr/bin/htop": no "." or ".." segments, no
 * trailing slash) and name the place *as the package or the database says*; the engine alone maps them onto the
 * OSTree tree (usrmerge symlinks, /etc → /usr/etc, /var → tmpfiles.d).
 */
import type { Readable } from 'node:stream';
import type { TreeReader } from './tree.js';

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo';

/** One file-system object a package ships. */
export interface PackageEntry {
  /** Absolute, normalised path as the package names it. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (mask 0o7777). */
  mode: number;
  /** Owner and group names; the engine maps them to ids through the base's passwd and group files. */
  user: string;
  group: string;
  /** Numeric ids as the archive states them, used only when the archive gives no name. */
  uid?: number;
  gid?: number;
  /** Size of the body in bytes (0 for everything but regular files). */
  size: number;
  /** Symlink: the target as written. Hardlink: the absolute, normalised path of an earlier entry of this package. */
  linkTarget?: string;
  devMajor?: number;
  devMinor?: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** A configuration file (dpkg conffile, rpm %config). */
  config?: boolean;
  /** rpm %ghost: owned and recorded in the database, but not shipped. */
  ghost?: boolean;
  /**
   * Hex digest of the content (a hardlink: of its target's), in the algorithm {@link PackageFile.fileDigest} names.
   * Backends leave it out; the engine fills it in while importing, for the entries the package asked about.
   */
  digest?: string;
}

/** An entry with its content; `body` is present for regular files and must be consumed before the next entry. */
export interface PayloadItem {
  entry: PackageEntry;
  body?: Readable;
}

/** Identity of a package, installed or not. `version` is the backend's own full notation (dpkg "1:2.3-4"). */
export interface PackageId {
  name: string;
  version: string;
  arch: string;
}

/** A package file opened by a backend: its metadata is parsed, its payload is read on demand. */
export interface PackageFile {
  /** Where the file is on disk. */
  readonly file: string;
  readonly id: PackageId;
  /**
   * The package's metadata as the backend's `inspect --json` prints it (name, version, arch, relationship fields…).
   * Must be plain JSON.
   */
  readonly metadata: Record<string, unknown>;
  /** True when the package has maintainer scripts that a layered install does not run (reported to the user). */
  readonly hasScripts: boolean;
  /**
   * Per-file digests the backend's database records and the package does not carry (dpkg: the md5 of each conffile,
   * and of every file when the package ships no md5sums). The engine computes them in its one pass over the payload
   * and returns them as {@link PackageEntry.digest} in {@link LayeredPackage.entries}, so the backend never reads the
   * payload again. `algorithm` is a node:crypto hash name; `wanted` takes the path as the package names it.
   */
  readonly fileDigest?: { algorithm: string; wanted(path: string): boolean };
  /**
   * Streams the payload in archive order. Every call starts from the beginning of the file, so the engine may read a
   * package twice (once to list and hash it, once to import it). Throws a {@link PackageFormatError} on bad input.
   */
  payload(): AsyncIterable<PayloadItem>;
}

/** The answer to `vercmp A OP B`. */
export interface VersionRelation {
  holds: boolean;
  /** Sign of the comparison of A with B; null when one side is an empty version (dpkg's "none"). */
  compare: number | null;
  /** What the format's tool would print as warnings (a version with characters it only tolerates). */
  warnings: string[];
}

/** One payload entry as `inspect --json` lists it (every backend prints the same shape). */
export interface InspectedFile {
  path: string;
  type: string;
  mode: number;
  user: string;
  group: string;
  size: number;
  linkTarget?: string;
  config?: boolean;
  ghost?: boolean;
}

/** A package recorded in the installed database. */
export interface InstalledPackage extends PackageId {
  /** Backend-specific state string, shown by `status` (dpkg: "install ok installed"). */
  state?: string;
}

/** The read-only package database found inside a deployment. */
export interface InstalledDatabase {
  /** Absolute path inside the tree where the database lives ("/usr/lib/sysimage/dpkg"). */
  readonly location: string;
  /** Every package the database records. */
  packages(): Promise<InstalledPackage[]>;
  /**
   * The installed packages that own each of `paths` (absolute, normalised, spelled as the database records them: before
   * usrmerge canonicalisation). A path no package owns is absent from the answer. Directories count; the engine ignores
   * them for file conflicts. The engine asks only about the paths new packages ship, so the answer should come from
   * the database's own index (rpm's Basenames) or one the backend keeps (see {@link TreeReader.derivedCachePath}):
   * its cost follows `paths`, not the number of installed packages.
   */
  owners(paths: string[]): Promise<Map<string, PackageId[]>>;
  /**
   * Optional: start building what {@link owners} answers from (a path index built from file lists), so that it is
   * ready by the time the engine asks. The engine calls it before the import, which mostly waits on decompression,
   * and does not wait for it; an error surfaces again from `owners`.
   */
  prepareOwners?(): Promise<void>;
}

/** What the engine knows about a package it is layering, handed to {@link Backend.writeDatabase}. */
export interface LayeredPackage {
  package: PackageFile;
  /** The payload as it was listed (paths as the package names them), in archive order. */
  entries: PackageEntry[];
  /**
   * Paths this package took over from an installed package (allowed by Replaces/…), keyed by the old owner's
   * package name, with the paths as the old owner's database records them.
   */
  takenOver: Map<string, string[]>;
  /**
   * Installed only to satisfy another package's relation, not named by the user (apt's `Auto-Installed: 1`, dnf's
   * reason "dependency"). Backends whose front ends keep such marks record them with the database.
   */
  automatic?: boolean;
}

/** A file, directory or symlink the backend wants in the new tree (its database copy). */
export interface LayerFile {
  /** Absolute path in the new tree. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  /** File content, or the symlink target. Directories have none. */
  content?: Buffer | string;
  /** A file on disk to stream instead of `content` (for large generated files). */
  source?: string;
  /** Removes what the backend made for `source`; the engine calls it once the layer is written, or has failed. */
  dispose?: () => Promise<void>;
}

/** What {@link Backend.databaseWithout} works from when layered packages are removed. */
export interface DatabaseWithoutOptions {
  /** The current (layered) tree and its database: base packages plus everything layered so far. */
  tree: TreeReader;
  database: InstalledDatabase;
  /** The base tree the new commit is composed from (no layered package in it). */
  base: TreeReader;
  /** Layered packages to drop. Never base packages: the engine refuses those before asking. */
  remove: PackageId[];
  /**
   * Every path at or below the database's location where `tree` differs from `base`, when the engine knows (OSTree
   * compares the two commits without reading what they share): "added" is not in the base at all. A backend uses it
   * to look only at what layering changed; without it, it compares the trees itself.
   */
  changed?: Map<string, 'added' | 'modified'>;
}

export interface WriteDatabaseOptions {
  tree: TreeReader;
  database: InstalledDatabase;
  added: LayeredPackage[];
}

/**
 * One maintainer script (or a tool run on the scripts' behalf) executed inside the sandbox, with the composed tree as
 * `/`. The engine runs steps in the order given and stops the transaction at the first that exits non-zero.
 */
export interface ScriptStep {
  /** The package the step belongs to (named when it fails); absent for a step of the whole transaction. */
  package?: PackageId;
  /** What the step is, for messages and logs ("preinst install", "%post", "dpkg --configure --pending"). */
  label: string;
  /** The command as the sandbox sees it: absolute paths inside the tree, or under {@link SCRIPT_DIR}. */
  argv: string[];
  /** Extra environment; the engine provides PATH, HOME=/root, LANG=C.UTF-8 and nothing from the host. */
  env?: Record<string, string>;
  /** Fed on standard input (rpm file triggers read the matching paths there). */
  stdin?: string;
  /** For a step of many packages: the packages its output says failed, named in the error. */
  failedPackages?(output: string): string[];
}

/** Where the sandbox shows {@link ScriptPlan.files}, read-only. */
export const SCRIPT_DIR = '/run/ostree-layer';

/** What a backend wants run to configure the packages of one transaction. */
export interface ScriptPlan {
  /** Script bodies and helpers, shown read-only at `${SCRIPT_DIR}/<name>` inside the sandbox. */
  files: Array<{ name: string; content: Buffer | string; mode: number }>;
  /** Run before the new payloads are in the tree (dpkg `preinst install`, rpm `%pre`), in dependency order. */
  beforePayload: ScriptStep[];
  /**
   * Run with the payloads and the database from {@link Backend.writeDatabase} in the tree (dpkg
   * `--configure --pending`, rpm `%post`, `%posttrans`, file triggers).
   */
  afterPayload: ScriptStep[];
  /**
   * Files the backend edits in the tree just before the configure steps, as a step run first would (dpkg's
   * `triggers/Unincorp` with the activations of the new files: what `dpkg-trigger --no-await` writes, without a
   * sandbox run per transaction). `edit` gets the file as the tree has it then (after the first pass), or null; the
   * result is kept in the layer as the steps leave it.
   */
  beforeConfigure?: Array<{ path: string; mode: number; edit: (current: Buffer | null) => Buffer | string }>;
  /** A tree path shown at a second place inside the sandbox, writable (the relocated dpkg database at /var/lib/dpkg). */
  binds: Array<{ treePath: string; sandboxPath: string }>;
  /**
   * Files present in the sandbox only, never in the layer (dpkg's `/usr/sbin/policy-rc.d` that refuses service starts).
   */
  sandboxOnly: Array<{ path: string; content: Buffer | string; mode: number }>;
  /** Tree paths whose changes by the scripts are not kept (lock files, sqlite -shm/-wal files); "dir/" for a subtree. */
  discard: string[];
  /**
   * What the scripts may generate that identifies one machine (host keys). A client-side install keeps it; a
   * server-side compose (`--commit-only`, pulled by a fleet) leaves `paths` out ("prefix*" matches a prefix) and, when
   * it dropped any, ships `regenerate` instead, so that each machine makes its own at boot.
   */
  perMachine?: { paths: string[]; regenerate: LayerFile[] };
}

/** Everything a package format plugs into the engine. */
export interface Backend {
  /** Short name used in refs, metadata and `--backend` ("dpkg", "rpm"). */
  readonly name: string;
  /** File name extension of its packages, without the dot ("deb", "rpm"). */
  readonly extension: string;

  /** True when `file` is one of this backend's package files (by magic bytes, not by name). */
  supportsFile(file: string): Promise<boolean>;

  /**
   * Looks for this backend's database in a deployment tree, preferring the read-only copy under /usr and falling back
   * to the legacy /var location. Returns null when this tree is not managed by this backend.
   */
  detect(tree: TreeReader): Promise<string | null>;

  /** Opens the database found by {@link detect}. Never writes to it: its files are hardlinks into the repo. */
  openDatabase(tree: TreeReader, location: string): Promise<InstalledDatabase>;

  /** Opens a package file and parses its metadata. Throws a {@link PackageFormatError} on bad input. */
  openPackage(file: string): Promise<PackageFile>;

  /** The backend's version order: negative, zero or positive like a comparator. */
  compareVersions(a: string, b: string): number;

  /**
   * `vercmp A OP B` as the format's own tool answers it (dpkg --compare-versions, rpm.vercmp): which operators
   * exist, how empty versions compare, what is only worth a warning. Throws {@link UsageError} for a version or
   * operator the tool refuses, with the reason.
   */
  versionRelation(a: string, op: string, b: string): VersionRelation;

  /**
   * True when `incoming` may overwrite `path` (as `incoming` names it) that `owner` ships (dpkg Replaces; rpm's
   * multilib colour rules are per file). The engine only asks when the contents differ.
   */
  mayOverwrite(incoming: PackageFile, owner: PackageId, path: string): boolean;

  /**
   * The wording of the fix when `incoming` ships a path `owner` (a base package) owns with other content: what the
   * format's package would have to declare ("Replaces: owner" for dpkg). Without it the message says it in general
   * words.
   */
  overwriteHint?(incoming: PackageId, owner: PackageId): string;

  /**
   * True when `incoming` and `installed`, of the same name but another architecture, are one package to the format
   * (so installing `incoming` would replace `installed`): dpkg counts an `all` package as any architecture. Without
   * it only the same name and architecture are the same package.
   */
  sameSlot?(incoming: PackageId, installed: PackageId): boolean;

  /**
   * The full updated database (base entries plus `added`) as files to place in the new tree, and any file that points
   * the tree's own tools at it (a tmpfiles.d link, a macro): all under /usr, where a deployment reads them. Only files
   * that change need to be returned: the base layer already holds the rest.
   */
  writeDatabase(options: WriteDatabaseOptions): Promise<LayerFile[]>;

  /**
   * For uninstall: the database files to layer over `base` so that the database describes the base plus every
   * currently layered package except `remove` (files of the removed packages left out, the rest carried over from the
   * current tree). The engine composes base + the remaining package layers + these files.
   */
  databaseWithout?(options: DatabaseWithoutOptions): Promise<LayerFile[]>;

  /**
   * Checks the package file's own signature (rpm header signature) against `keys`, OpenPGP public keys armored or
   * binary. Throws a VerificationError when the package is unsigned or the signature does not verify. Backends whose
   * format carries no signature of its own leave this out, and the engine refuses `--key` for them.
   */
  verifySignature?(file: string, keys: Array<string | Uint8Array>): Promise<void>;

  /**
   * Everything about a package file as plain JSON for `inspect --json`: at least name, version, arch, the
   * relationship fields and `files` (objects with path, type, mode, user, group, size).
   */
  inspect?(file: string): Promise<Record<string, unknown>>;

  /**
   * The maintainer scripts to run for `added` (see {@link ScriptPlan}), or null when none of them has any. The engine
   * runs them in a sandbox over a writable view of the composed tree and keeps what they change as one more layer; the
   * database the scripts leave (dpkg marks packages configured itself) is the one committed. Backends without it
   * leave packages unconfigured, as {@link stateNote} says.
   */
  planScripts?(options: WriteDatabaseOptions): Promise<ScriptPlan | null>;

  /** Human-readable note on what a layered install of this package left undone (e.g. maintainer scripts). */
  stateNote?(pkg: PackageFile): string | undefined;
}
