/**
 * Builders for tests and the demo: real bases (Debian minbase, a tiny RPM base) cached as ostree commits, throwaway
 * sysroots, and fixture packages made with the real dpkg-deb and rpmbuild (plus hand-made hostile .debs).
 */
export { ensureCacheRepo, findTamperedObject, resolveCacheDir, withFileLock, type BaseImage, type CacheOptions } from './cache.js';
export { compareFakeVersions, FAKE_DB_LOCATION, fakeBackend, FakeDatabase, makeFakeTree, type FakeRecord } from './fake-backend.js';
export { fakePlugin } from './fake-plugin.js';
export { fakeRepositories, writeFakeRepository } from './fake-repository.js';
export { FAKE_EXTENSION, FAKE_PACKAGE_MAGIC, FakePackage, writeFakePackage, type FakeEntrySpec, type FakePackageSpec } from './fake-package.js';
export { applyLayerFiles, treeWithLayer } from './layer-files.js';
export { mountsUnder, removeTree, unmountUnder } from './cleanup.js';
export { buildDeb, debControl, type DebCompression, type DebFileSpec, type DebSpec } from './deb.js';
export { DEBIAN_MINBASE_REF, debianMirror, debianSourcesLine, DPKG_DB_PATH, ensureDebianMinbase } from './minbase.js';
export { commitTree, makeOstreeReady, STAND_IN_KERNEL_VERSION, type CommitTreeOptions, type OstreeReadyOptions } from './ostree-tree.js';
export { buildRawDataTarDeb, HOSTILE_DATA_ENTRIES, rawTar, type RawDebSpec, type RawTarEntry } from './rawdeb.js';
export { buildRpm, rpmSpecText, type RpmCompression, type RpmFileSpec, type RpmFileTrigger, type RpmScriptlet, type RpmScriptletKind, type RpmSpec } from './rpm.js';
export { ensureRpmBase, findStaticBusybox, installRpmRoot, rpmBaseSpecs, RPM_BASE_REF, RPM_DB_PATH, type RpmBase } from './rpmbase.js';
export { runScriptStep, writePlanFiles } from './script-steps.js';
export { defaultDeployment, deploymentOrigin, initSysroot, listDeployments, makeSysroot, readLoaderEntries, type InitializedSysroot, type LoaderEntry, type Sysroot, type SysrootOptions } from './sysroot.js';
export { aptDownloadClosure, aptPlan } from './apt.js';
export * from './boot/index.js';
export { buildPacmanPackage, pkgbuildText, type PacmanCompression, type PacmanFileSpec, type PacmanSpec } from './pacman.js';
export { ensurePacmanBase, installPacmanRoot, pacmanBaseSpecs, PACMAN_BASE_REF, PACMAN_DB_PATH, type PacmanBase } from './pacmanbase.js';
