/** An opened .rpm as the engine sees it: identity, metadata JSON, the payload on demand. */
import type { InspectedFile, PackageFile, PackageId, PayloadItem } from '@ostree-layer/core';
import { PackageFormatError } from '@ostree-layer/core';
import { readArchive, verifyDigests, type RpmArchive } from './archive.js';
import { Sense, readDependencies, type Dependencies } from './dependencies.js';
import { FileFlag, headerFiles, type HeaderFile } from './files.js';
import { Tag, type RpmHeader } from './header.js';
import { payloadItems } from './payload.js';
import { formatEvr, type RpmEvr } from './version.js';

const SCRIPT_TAGS = [
  Tag.PreIn, Tag.PostIn, Tag.PreUn, Tag.PostUn, Tag.PreInProg, Tag.PostInProg, Tag.PreUnProg, Tag.PostUnProg,
  Tag.PreTrans, Tag.PostTrans, 1153, 1154, Tag.TriggerScripts, 5066, 5076,
];

export interface RpmIdentity {
  name: string;
  evr: RpmEvr;
  arch: string;
}

/** Name, epoch, version, release and arch of a header; refuses a header without them. */
export function identityOf(h: RpmHeader, file: string, source = false): RpmIdentity {
  const name = h.string(Tag.Name);
  const version = h.string(Tag.Version);
  const release = h.string(Tag.Release);
  if (!name || version === undefined || release === undefined) throw new PackageFormatError(file, 'header has no name, version or release; it is not a package header');
  const epoch = h.number(Tag.Epoch);
  const arch = source || !h.has(Tag.SourceRpm) ? 'src' : (h.string(Tag.Arch) ?? 'noarch');
  checkField(file, 'Name', name, NAME_CHARS);
  checkField(file, 'Version', version, VERSION_CHARS);
  checkField(file, 'Release', release, VERSION_CHARS);
  checkField(file, 'Arch', arch, ARCH_CHARS);
  if (epoch !== undefined && !(Number.isInteger(epoch) && epoch >= 0)) {
    throw new PackageFormatError(file, `header field Epoch: ${epoch} is not a non-negative integer; rpmbuild refuses it too, so the package must be rebuilt`);
  }
  return { name, evr: { epoch: epoch === undefined ? undefined : String(epoch), version, release }, arch };
}

/** rpmbuild's character rules (rpmCharCheck): letters, digits and a few symbols, and never "..". */
const NAME_CHARS = /^[A-Za-z0-9_%][A-Za-z0-9._+%{}-]*$/;
const VERSION_CHARS = /^[A-Za-z0-9._+%{}~^]+$/;
/** No rpm architecture has more than letters, digits and "_" (x86_64, noarch, armv7hl, ppc64le). */
const ARCH_CHARS = /^[A-Za-z0-9_]+$/;

/**
 * The fields that name a package become refs, database keys and file names: a value rpmbuild would never write is
 * refused here, before anything uses it.
 */
function checkField(file: string, field: string, value: string, allowed: RegExp): void {
  if (allowed.test(value) && !value.includes('..')) return;
  throw new PackageFormatError(file, `header field ${field}: ${JSON.stringify(value)} has a character or sequence rpmbuild does not allow (letters, digits, ${field === 'Arch' ? '"_"' : field === 'Name' ? '"._+-%{}"' : '"._+~^%{}"'}, never ".."); the package must be rebuilt`);
}

export function hasScripts(h: RpmHeader): boolean {
  return SCRIPT_TAGS.some((t) => h.has(t));
}

export type RpmFileJson = InspectedFile;

/** Files as `inspect --json` lists them; a source package's are named as rpm -qlp names them (no leading "/"). */
export function filesJson(files: HeaderFile[], source = false): RpmFileJson[] {
  return files.map((f) => ({
    path: source ? f.rawPath : f.path, type: f.type, mode: f.mode, user: f.user, group: f.group, size: f.type === 'file' ? f.size : 0,
    ...(f.type === 'symlink' ? { linkTarget: f.linkTo } : {}),
    ...(f.flags & FileFlag.Config ? { config: true } : {}),
    ...(f.flags & FileFlag.Ghost ? { ghost: true } : {}),
  }));
}

/**
 * A header without an immutable region is a pre-rpm-4 package; rpm retrofits the "name = EVR" provide that rpm 4
 * adds at build time, and so do we, so such a package answers to its own name. rpm 4.18 appends it even when the
 * package already provides it (seen with rpm's own v3 test package), so this does too.
 */
function retrofitSelfProvide(deps: Dependencies, id: RpmIdentity): void {
  const version = formatEvr(id.evr);
  deps.provides.push({ name: id.name, flags: Sense.Equal, operator: '=', version });
}

export class RpmPackage implements PackageFile {
  readonly id: PackageId;
  readonly identity: RpmIdentity;
  readonly files: HeaderFile[];
  readonly dependencies: Dependencies;
  readonly hasScripts: boolean;

  constructor(readonly archive: RpmArchive) {
    const h = archive.header;
    this.identity = identityOf(h, archive.file, archive.source);
    this.id = { name: this.identity.name, version: formatEvr(this.identity.evr), arch: this.identity.arch };
    this.files = headerFiles(h, archive.file, true);
    this.dependencies = readDependencies(h, archive.file);
    if (!h.has(Tag.HeaderImmutable) && this.identity.arch !== 'src') retrofitSelfProvide(this.dependencies, this.identity);
    this.hasScripts = hasScripts(h);
  }

  get file(): string {
    return this.archive.file;
  }

  get header(): RpmHeader {
    return this.archive.header;
  }

  get metadata(): Record<string, unknown> {
    const h = this.archive.header;
    const { evr } = this.identity;
    return {
      name: this.identity.name,
      epoch: evr.epoch === undefined ? null : Number(evr.epoch),
      version: evr.version,
      release: evr.release,
      arch: h.string(Tag.Arch) ?? null,
      source: this.identity.arch === 'src',
      summary: h.string(Tag.Summary) ?? null,
      license: h.string(Tag.License) ?? null,
      url: h.string(Tag.Url) ?? null,
      sourceRpm: h.string(Tag.SourceRpm) ?? null,
      hasScripts: this.hasScripts,
      dependencies: this.dependencies,
      files: filesJson(this.files, this.identity.arch === 'src'),
    };
  }

  payload(): AsyncIterable<PayloadItem> {
    return payloadItems(this.archive, this.files);
  }
}

/** Opens, parses and digest-checks a package. Throws PackageFormatError on anything rpm would refuse. */
export async function openRpm(file: string, options: { verify?: boolean } = {}): Promise<RpmPackage> {
  const archive = await readArchive(file);
  if (options.verify !== false) await verifyDigests(archive);
  return new RpmPackage(archive);
}
