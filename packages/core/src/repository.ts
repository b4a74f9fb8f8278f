/**
 * The repository side of the contract (a plugin's `repositories`, plugin.ts): how a format turns the deployment's
 * configured repositories and its installed database into solver terms, and what the engine downloads. Every call is
 * told the target ({@link RepositoryTarget}: the tree, its database, the architecture that database declares), so a
 * backend never guesses from the host. The core runs the solver (resolve/) and the downloader (fetch/); the backend
 * only parses, verifies metadata and states its policy.
 */
import type { InstalledDatabase } from './backend.js';
import type { Report } from './report.js';
import type { PackageSpec, PoolOptions, SolverPolicy } from './resolve/index.js';
import type { TreeReader } from './tree.js';

/** Where and how to get one package file; the engine checks size and digest after download. */
export interface Download {
  /** `http://`, `https://` or `file://` URL of the package file. */
  url: string;
  size: number;
  /** Expected digest, hex; at least one of these. */
  sha256?: string;
  sha512?: string;
  /** File name to store it under in the cache (no slashes). */
  fileName: string;
  /** The repository it comes from, for messages ("bookworm/main"). */
  origin: string;
  /** Bytes the package occupies once installed, when the metadata says (for the plan's totals). */
  installedSize?: number;
  /**
   * The package file carries its own signature that must verify against these armored OpenPGP public keys (rpm
   * `gpgcheck=1` with the repository's `gpgkey=`). The engine passes the downloaded file and this Download to
   * {@link RepositoryBackend.verifyPackage}. Absent: the digest from the verified index is the only check.
   */
  verify?: { keys: string[] };
}

/**
 * The deployment the repository side works for, opened once per transaction (see `openRepositoryTarget`): everything
 * the backend needs to know about the target comes from here, never from the host running ostree-layer.
 */
export interface RepositoryTarget {
  tree: TreeReader;
  /** The target's installed database, as the backend's `openDatabase` opened it. */
  database: InstalledDatabase;
  /** The native architecture the target's database declares ({@link RepositoryBackend.targetArch}). */
  arch: string;
}

export interface RepositoryOptions extends RepositoryTarget {
  /** Root of ostree-layer's cache; the backend keeps its indexes under `<cacheDir>/<backend>/`. */
  cacheDir: string;
  /** Extra repositories from the command line, in the backend's own one-line syntax (sources.list line, baseurl). */
  extraSources?: string[];
  /** Accept unsigned or badly signed metadata (the user said --allow-unauthenticated / --nogpgcheck). */
  allowUnauthenticated?: boolean;
  /** Where messages and warnings go (an unreachable mirror, a stale index, reading file lists); the CLI renders them. */
  report: Report;
}

/** A repository candidate: the solver's spec plus where to download it. */
export interface CandidateSpec extends PackageSpec {
  download: Download;
}

/** The available packages of every enabled repository, loaded and verified. */
export interface RepositorySet {
  /** Every candidate as a solver spec with its download (`data` stays the backend's own, for its pool rules). */
  specs(): CandidateSpec[];
  /**
   * Optional: only the candidates reachable from `names` (see `reachableSpecs`), in the order specs() lists them,
   * built without building the rest; install by name then costs what the request touches, not the repository size.
   */
  reachable?(names: string[]): CandidateSpec[];
  /** Packages whose name (or, backend permitting, description) matches `pattern` (a glob or substring). */
  search(pattern: string): Array<{ name: string; version: string; arch: string; summary: string }>;
  /** Full metadata of every candidate version of `name`, as plain JSON for `show`. */
  show(name: string): Array<Record<string, unknown>> | Promise<Array<Record<string, unknown>>>;
  /** The repositories loaded (apt: one per suite and component; rpm-md: one per .repo section), for `repolist`. */
  repositories(): LoadedRepository[];
}

/** One loaded repository as front ends list it. */
export interface LoadedRepository {
  /** What the candidates' `origin` says ("bookworm/main", the .repo id). */
  id: string;
  /** A human name (the .repo `name=`), or the URL and suite. */
  name: string;
  url: string;
  packages: number;
  /** Where it was configured ("/usr/etc/apt/sources.list:1", "--source"). */
  configuredIn: string;
  /** apt's pin priority (500 unless the Release says otherwise); rpm-md: 99 less the .repo priority, as dnf orders. */
  priority?: number;
}

/** Implemented by a backend that can install by name. */
export interface RepositoryBackend {
  /**
   * The native architecture of the target as its database declares it (the architecture the format's own tool would
   * print inside the tree), never the host's: a server composes images for machines of another architecture.
   */
  targetArch(target: { tree: TreeReader; database: InstalledDatabase }): Promise<string>;
  /**
   * Reads the repository configuration from the tree (/usr/etc + /etc), loads and verifies the indexes of the
   * target's architecture(s). A repository that cannot be reached and was never fetched is a `warning` event, not an
   * error; only a request that needs one of its packages fails later.
   */
  openRepositories(options: RepositoryOptions): Promise<RepositorySet>;
  /** The installed base as solver specs (they are locked). */
  installedSpecs(target: RepositoryTarget): Promise<PackageSpec[]>;
  /** Version order, which architectures the target runs and how qualifiers match them (Multi-Arch, multilib). */
  poolOptions(target: RepositoryTarget): Promise<PoolOptions>;
  /** How to pick among candidates and alternatives so that answers match the format's own tool (apt, dnf…). */
  solverPolicy(target: RepositoryTarget): SolverPolicy;
  /** Parses a request ("htop", "libfoo:i386", "foo=1.2", "foo >= 2") into a name and optional constraint. */
  parseRequest(text: string): { name: string; op?: '<' | '<=' | '=' | '>=' | '>'; version?: string; arch?: string };
  /**
   * Optional: checks a downloaded package's own signature (rpm header signatures) after the engine's size and digest
   * check and before it is opened; throws a VerificationError to refuse it. Called only for downloads with `verify`.
   */
  verifyPackage?(file: string, download: Download): Promise<void>;
}

export {
  byteLimit, describeAge, downloadFile, fetchAll, fetchKeepingCopy, formatBytes, INDEX_MAX_BYTES, METADATA_MAX_BYTES, NotFoundError, openUrl, readUrl,
  UnreachableError, verifyExisting,
} from './fetch/index.js';
export type { DownloadFileOptions, Expected, FetchOptions, Fetched, KeptFetch } from './fetch/index.js';
export { planByName, type NamePlan, type PlanByNameOptions, type PlannedDownload } from './resolve-request.js';
