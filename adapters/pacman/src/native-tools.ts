/**
 * What makes the layered database the one a deployment's own, unmodified pacman reads with no options.
 *
 * pacman's DBPath defaults to /var/lib/pacman (and to <root>/var/lib/pacman under `--root`), and /var is the
 * stateroot's: shared by every deployment, never updated by a deploy. A tmpfiles.d `L+` line turns
 * /var/lib/pacman/local into a link to the booted deployment's database in /usr at every boot, as the dpkg backend does
 * for /var/lib/dpkg. Only `local/` is linked: `sync/` (repository databases that `pacman -Sy` downloads) and the lock
 * file stay writable in /var. Setting DBPath in pacman.conf instead would edit a file the admin owns, which OSTree's
 * 3-way /etc merge keeps whole once changed. The link is relative, so that it also leads to the right place when a
 * checkout of the tree is read from outside (`pacman --root DIR`, which resolves an absolute link on the host). Writing
 * verbs (`pacman -S/-U/-R`) then fail on the read-only /usr.
 */
import type { LayerFile } from '@ostree-layer/core';

export const PACMAN_TMPFILES = '/usr/lib/tmpfiles.d/ostree-layer-pacman.conf';

/** The tmpfiles.d line that links /var/lib/pacman/local to `location`/local; none for a tree that keeps it in /var. */
export function nativeToolFiles(location: string): LayerFile[] {
  if (location.startsWith('/var/')) return [];
  const target = `../../..${location}/local`;
  return [
    {
      path: PACMAN_TMPFILES,
      type: 'file',
      mode: 0o644,
      content: `# ostree-layer: pacman reads the database of the booted deployment\nL+ /var/lib/pacman/local - - - - ${target}\n`,
    },
  ];
}
