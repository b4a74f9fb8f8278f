/**
 * A Debian bookworm base that boots: a real kernel, an initramfs with ostree-prepare-root (dracut + ostree-boot), and
 * systemd. Built once with mmdebstrap (about 3 minutes) and cached in the testkit repo under a recipe derived from
 * everything that goes into it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemStateError, UsageError } from '@ostree-layer/core';
import { ensureCached, sharedPerCacheDir, type BaseImage, type CacheOptions } from '../cache.js';
import { buildDebianBase, mmdebstrapArgs, type DebianBaseSpec } from '../minbase.js';
import { isRoot, run } from '../run.js';

export const DEBIAN_BOOTABLE_REF = 'debian/bookworm/bootable';

const BOOT_PACKAGES = ['linux-image-amd64', 'systemd-sysv', 'ostree-boot', 'dracut', 'udev', 'kmod'];
// ostree-boot ships only a dracut module (98ostree); building the initramfs once every package is in puts
// ostree-prepare-root into it whatever order the packages were configured in.
const CUSTOMIZE_HOOKS = ['chroot "$1" dracut --force --no-hostonly --regenerate-all'];
// Skips the kernel package's own initramfs build (the hook above builds the one used): measured here, 1m42 of CPU for
// the whole image instead of 3m56.
const MMDEBSTRAP_ENV = { INITRD: 'No' };

/**
 * Directories a booted OSTree system keeps in /var (they must survive upgrades), as [top-level name, path under
 * /var, mode]: the tree gets a symlink and a tmpfiles.d line creates the target at boot.
 */
const VAR_HOMES: ReadonlyArray<readonly [string, string, string]> = [
  ['home', 'home', '0755'],
  ['root', 'roothome', '0700'],
  ['opt', 'opt', '0755'],
  ['srv', 'srv', '0755'],
  ['mnt', 'mnt', '0755'],
];

// Bump when prepareBootable changes; the mmdebstrap inputs are hashed in by recipe().
const LAYOUT_VERSION = 1;

/**
 * The cached bootable Debian commit. A cache hit costs two `ostree` calls; a miss builds it under the cache's lock
 * (other test workers wait for that build instead of starting their own).
 */
export const ensureBootableDebian: (options?: CacheOptions) => Promise<BaseImage> = sharedPerCacheDir(buildOrReuse);

async function buildOrReuse(cacheDir: string): Promise<BaseImage> {
  if (!isRoot()) throw new UsageError('ensureBootableDebian needs root (mmdebstrap in root mode, ownership in the commit)');
  const spec = bootableSpec();
  const { repo, commit } = await ensureCached(cacheDir, spec.ref, spec.recipe, (repo) => buildDebianBase(cacheDir, repo, spec));
  return { repo, ref: spec.ref, commit, osName: 'debian' };
}

function bootableSpec(): DebianBaseSpec {
  const inputs = { include: BOOT_PACKAGES, customizeHooks: CUSTOMIZE_HOOKS, env: MMDEBSTRAP_ENV };
  // The root path is a placeholder: only what changes the result goes into the digest (the mirror included).
  const digest = createHash('sha256')
    .update(JSON.stringify({ args: mmdebstrapArgs(inputs, 'ROOT'), env: MMDEBSTRAP_ENV, varHomes: VAR_HOMES, layout: LAYOUT_VERSION }))
    .digest('hex')
    .slice(0, 16);
  return {
    ref: DEBIAN_BOOTABLE_REF,
    recipe: `debian-bootable-${digest}`,
    subject: 'Debian bookworm, bootable (ostree-layer testkit)',
    version: 'bookworm-bootable',
    buildName: 'bootable',
    ...inputs,
    prepare: prepareBootable,
  };
}

/**
 * The parts of an OSTree layout a plain rootfs lacks and `makeOstreeReady` does not add because a stand-in kernel
 * suffices for deploy-only tests: the kernel and initramfs where `ostree admin deploy` looks for them, an empty /boot
 * (the sysroot's /boot is the real one), /sysroot and /ostree for ostree-prepare-root, and the /var homes.
 */
async function prepareBootable(root: string): Promise<void> {
  const boot = join(root, 'boot');
  const kernels = (await readdir(boot)).filter((name) => name.startsWith('vmlinuz-'));
  if (kernels.length === 0) throw new SystemStateError(`${boot} has no vmlinuz-*: linux-image-amd64 did not install a kernel`);
  for (const kernel of kernels) {
    const version = kernel.slice('vmlinuz-'.length);
    const initrd = join(boot, `initrd.img-${version}`);
    if (!existsSync(initrd)) throw new SystemStateError(`${initrd} is missing: dracut did not build an initramfs for ${version}`);
    // Without ostree-prepare-root the initramfs mounts the sysroot itself and the deployment never becomes /.
    const listing = await run('chroot', [root, 'lsinitrd', `/boot/initrd.img-${version}`]);
    if (!listing.includes('ostree-prepare-root')) {
      throw new SystemStateError(`${initrd} has no ostree-prepare-root: ostree-boot's dracut module was not included`);
    }
    const modules = join(root, 'usr/lib/modules', version);
    await mkdir(modules, { recursive: true });
    await rename(join(boot, kernel), join(modules, 'vmlinuz'));
    await rename(initrd, join(modules, 'initramfs.img'));
  }
  await rm(boot, { recursive: true });
  await mkdir(boot);
  // Debian's kernel postinst points /vmlinuz and /initrd.img into /boot; those targets are gone now.
  for (const name of await readdir(root)) {
    if (/^(vmlinuz|initrd\.img)(\.old)?$/.test(name)) await rm(join(root, name));
  }
  await mkdir(join(root, 'sysroot'));
  await symlink('sysroot/ostree', join(root, 'ostree'));
  const tmpfiles: string[] = [];
  for (const [name, underVar, mode] of VAR_HOMES) {
    await rm(join(root, name), { recursive: true, force: true });
    await symlink(`var/${underVar}`, join(root, name));
    tmpfiles.push(`d /var/${underVar} ${mode} root root -`);
  }
  await writeFile(join(root, 'usr/lib/tmpfiles.d/ostree-layer-testkit-var-homes.conf'), tmpfiles.join('\n') + '\n');
}
